"""The ``slimkit`` command line: pretrain, embed, index, search, evaluate, predict, list models and plot
runs without writing Python.

Every subcommand reads skeleton data through [`slimkit.data.load`][slimkit.data.load] (NTU ``.skeleton``
folders, CTR-GCN ``.npz``, pyskl ``.pkl``, NW-UCLA ``.json`` folders, Penn Action ``.mat`` folders, plain
``.npy``), writes plain files (``.npy`` embeddings with a ``.json`` sidecar of ids and labels, saved
[`Retriever`][slimkit.retrieval.Retriever] indexes, model folders), and exits non-zero with a one-line
reason when the input is wrong. Sequences with no usable joint are skipped (``pretrain``, ``evaluate``)
or kept as zero rows marked ``valid: false`` in the sidecar (``embed``), with a warning naming each file;
see [`slimkit.checks`][slimkit.checks]. Run ``slimkit <command> --help`` for the options and examples of
each command.

One module per command (``pretrain``, ``embed``, ``index``, ``search``, ``evaluate``, ``predict``, ``models``,
``plot_metrics``), each with ``add_parser(subparsers)`` and ``run(args)``; ``_common`` holds the shared options,
checks and data loading, ``_files`` the embedding files and outputs. The command modules import what they use at
the top: torch comes with ``import slimkit`` anyway, and the heavy optional dependencies stay out of
``slimkit --help`` because [`slimkit.retrieval`][slimkit.retrieval] imports FAISS and
[`slimkit.viz`][slimkit.viz] matplotlib only when an index is built or a figure drawn.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import zipfile
import zlib
from collections.abc import Sequence

from slimkit._version import __version__

from . import embed, evaluate, index, models, plot_metrics, predict, pretrain, search
from ._common import Formatter

__all__ = ["main", "build_parser"]

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, ImportError, KeyError, OSError)
# Also reported in one line (set SLIMKIT_DEBUG=1 for the traceback): what hostile or broken input files, an
# exhausted machine or a broken device raise from inside numpy, zipfile, pickle, torch and FAISS.
_RUNTIME_ERRORS = (
    MemoryError,
    RecursionError,
    EOFError,
    ArithmeticError,
    RuntimeError,
    zipfile.BadZipFile,
    zlib.error,
    pickle.UnpicklingError,
)

# the subcommands, in the order `slimkit --help` lists them
_COMMANDS = (pretrain, embed, index, search, evaluate, predict, models, plot_metrics)

_MAIN_EPILOG = """\
examples:
  slimkit embed data/nw-ucla/all_sqe --model runs/ucla/encoder -o ucla.npy
  slimkit index ucla.npy -o ucla.slimidx
  slimkit search ucla.slimidx --queries ucla.npy --rows 0 5 9 -k 5
  slimkit evaluate data/ntu60_xsub.pkl --model runs/x/encoder --train-split xsub_train --test-split xsub_val
  slimkit pretrain data/train.npy --layout ntu25 --preset small -o runs/x --epochs 50
  slimkit predict data/nw-ucla/all_sqe --split test -m ucla-classifier
  slimkit plot-metrics runs/x
  slimkit models

Data files are read by slimkit.data.load: NTU .skeleton folders, CTR-GCN .npz, pyskl .pkl,
NW-UCLA .json folders, Penn Action .mat folders, .npy batches (N, M, T, V, C) and folders of .npy
clips (T, V, C) / (M, T, V, C). A 4-D .npy is one sequence (M, T, V, C): for a batch of one-person
sequences (N, T, V, C) add --input-format NTVC.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``slimkit`` command (all subcommands)."""
    parser = argparse.ArgumentParser(
        prog="slimkit",
        description="Skeleton action embeddings (SLiM): pretrain an encoder, embed sequences, build and "
        "search a retrieval index, evaluate with kNN and a linear probe, list the pretrained models.",
        epilog=_MAIN_EPILOG,
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"slimkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``slimkit`` command line.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 1 on a user error (printed as one line), 2 on a usage error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors (argparse already printed why)
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `slimkit search ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except USER_ERRORS + _RUNTIME_ERRORS as e:
        if os.environ.get("SLIMKIT_DEBUG") and isinstance(e, _RUNTIME_ERRORS):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if isinstance(e, (KeyError,)) and msg.startswith("'"):
            msg = msg.strip("'\"")
        if isinstance(e, _RUNTIME_ERRORS) or not msg:
            msg = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
            if isinstance(e, MemoryError):
                msg = f"out of memory ({msg})"
        print(f"slimkit {args.command}: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"slimkit {args.command}: interrupted", file=sys.stderr)
        return 130
