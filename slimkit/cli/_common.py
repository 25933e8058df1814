"""What the commands share: their common options, the checks they run before any work, reading and screening
skeleton data (one warning per unusable file, errors that name the file and the flag that fixes them) and the
messages they print."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slimkit import SLiMEncoder, data
from slimkit.checks import Screened, SourceFiles, data_channels, usable_mask


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the epilog's line breaks; show a default when there is one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.default not in (None, False, argparse.SUPPRESS)
            and "%(default)" not in text
            and action.option_strings
            and not text.endswith(")")
        ):
            text += " (default: %(default)s)"
        return text


# ---- options several commands take -------------------------------------------------------------------------
LAYOUT_HELP = "joint layout of the data when the file does not say (ntu25, coco17, ...)"
DEVICE_HELP = "cpu, cuda, cuda:1 ... (default: CUDA when available)"


def add_command(sub: Any, name: str, help: str, description: str, examples: str) -> argparse.ArgumentParser:
    """A subcommand's parser, with the shared formatter and its examples as the epilog."""
    return sub.add_parser(name, help=help, formatter_class=Formatter, description=description,
                          epilog=f"examples:\n{examples}")


def add_layout(p: argparse.ArgumentParser, help: str = LAYOUT_HELP) -> None:
    p.add_argument("--layout", help=help)


def add_input_format(p: argparse.ArgumentParser, help: str = "axis order of a .npy array, e.g. NTVC for (N, T, V, C)"
                     ) -> None:
    p.add_argument("--input-format", help=help)


def add_batch_size(p: argparse.ArgumentParser, help: str = "sequences per forward pass") -> None:
    p.add_argument("--batch-size", type=int, default=64, help=help)


def add_device(p: argparse.ArgumentParser, help: str = DEVICE_HELP) -> None:
    p.add_argument("--device", default=None, help=help)


def add_quiet(p: argparse.ArgumentParser, help: str = "no progress bars") -> None:
    p.add_argument("--quiet", "-q", action="store_true", help=help)


def add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                   help="auto: bf16 autocast on CUDA, fp32 on CPU")


def add_trust_pickle(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle .pkl data without restrictions (it can run code: only for files you trust); by "
        "default only builtin containers and numpy arrays are admitted",
    )


def add_model_options(p: argparse.ArgumentParser, model_required: bool = True) -> None:
    """``--model``, ``--layout``, ``--batch-size``, ``--device`` and ``--quiet`` of the commands that run an encoder."""
    p.add_argument(
        "--model",
        "-m",
        required=model_required,
        help="model folder, Hub repo id or shipped name (list them with 'slimkit models')"
        + ("" if model_required else "; not needed when TRAIN is embeddings (.npy from 'slimkit embed')"),
    )
    add_layout(p)
    add_batch_size(p)
    add_device(p)
    add_quiet(p)


# ---- messages ----------------------------------------------------------------------------------------------
def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def say(args: argparse.Namespace, msg: str) -> None:
    """A setup message on stderr (the first seconds of a command are otherwise silent), unless --quiet.

    ``pretrain`` always says them (its log is read later); the other commands only on a terminal, so that a
    script's stderr holds just warnings and errors.
    """
    if getattr(args, "quiet", False):
        return
    if args.command == "pretrain" or sys.stderr.isatty():
        print(msg, file=sys.stderr, flush=True)


def plain(values: Any) -> list[Any] | None:
    """A list of JSON-friendly scalars (numpy scalars become Python ones)."""
    if values is None:
        return None
    return [v.item() if hasattr(v, "item") else v for v in list(values)]


# ---- checks before any work ----------------------------------------------------------------------------------
def check_exists(path: str, name: str) -> None:
    if not Path(path).exists():
        raise FileNotFoundError(f"{name}: {path}: no such file or folder")


def check_device(device: str | None, name: str = "--device") -> None:
    """Refuse a torch device that does not parse, or CUDA where none is available, before any work."""
    if device is None:
        return
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"{name}: expected cpu, cuda, cuda:N or mps, got {device!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}: {device!r} but CUDA is not available here (torch {torch.__version__}, "
                f"{'built without CUDA' if torch.version.cuda is None else 'no GPU visible'}); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{name}: {device!r} but only {torch.cuda.device_count()} GPUs are visible")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name}: {device!r} but MPS is not available here; use --device cpu")


_CHANNEL_WORDS = {2: "(x, y)", 3: "(x, y, z) or (x, y, score)"}


def check_channels(ds: Any, mask: Any, config: Any, path: str, fix: str) -> None:
    """Refuse data whose values per joint the model cannot read, naming the file and the flag that fixes it."""
    c = data_channels(ds, mask)
    accepted = (config.in_channels,) + ((3,) if config.in_channels == 2 else ())
    if c not in accepted:
        first = int(mask.argmax()) if mask is not None and mask.any() else 0
        raise ValueError(
            f"{SourceFiles(path)(ds.names[first])}: {c} values per joint {_CHANNEL_WORDS.get(c, '')}, but the "
            f"model reads in_channels={config.in_channels} {_CHANNEL_WORDS[config.in_channels]}; {fix}"
        )


# ---- reading data ------------------------------------------------------------------------------------------
def split_of(ds: Any, split: str | None, path: str, name: str) -> Any:
    """The sequences of a named split (all of them without one), with an error listing the splits."""
    if not split:
        return ds
    if split not in ds.split:
        known = sorted(ds.split) or "none (this data has no named splits)"
        raise ValueError(f"{name}: no split named {split!r} in {path}; splits: {known}")
    return ds.subset(split)


def load_data(
    path: str,
    layout: str | None,
    split: str | None = None,
    name: str = "data",
    input_format: str | None = None,
    trust_pickle: bool = False,
) -> Any:
    """Load a dataset file or folder; with ``split``, keep the sequences of that named split."""
    check_exists(path, name)
    extra: dict[str, Any] = {"trust_pickle": bool(trust_pickle)}
    if input_format:
        if not str(path).endswith(".npy"):
            raise ValueError(f"--input-format applies to .npy arrays only, not {path}")
        extra["input_format"] = input_format
    try:
        ds = data.load(path, layout=layout, **extra)
    except ValueError as e:
        msg = str(e)
        if layout and "to_layout" in msg:  # a format with a fixed layout: read it as it is, then convert
            native = data.load(path, **extra)
            try:
                ds = native.to_layout(layout)
            except ValueError as e2:
                raise ValueError(f"--layout: {path} is in layout {native.layout!r}, and {e2}") from None
            print(f"{name}: converting joints from the file's layout {native.layout!r} to --layout {layout!r}",
                  file=sys.stderr)
        elif "layout" in msg and "--layout" not in msg:  # say which flag fixes it
            hint = "--layout names the data's joint layout" + (
                "; --input-format NTVC reads a 4-D .npy as a batch of one-person sequences"
                if str(path).endswith(".npy") and not input_format else ""
            )
            raise ValueError(f"{msg.rstrip('.')} ({hint})") from None
        else:
            raise
    return split_of(ds, split, path, name)


def load_model(name: str) -> SLiMEncoder:
    return SLiMEncoder.from_pretrained(name)


def fit_layout(ds: Any, encoder: Any) -> Any:
    """Convert a dataset's joints to the encoder's layout when they differ (and a conversion is known)."""
    target = encoder.config.layout
    if ds.layout == target:
        return ds
    try:
        out = ds.to_layout(target)
    except ValueError as e:
        raise ValueError(
            f"the data are in layout {ds.layout!r} but the model expects {target!r}: {e} (pass --layout if the "
            "data's layout was guessed wrong, or use a model for this layout: see 'slimkit models')"
        ) from None
    print(f"converting joints from layout {ds.layout!r} to the model's {target!r}", file=sys.stderr)
    return out


def prepared_data(args: argparse.Namespace, path: str, encoder: Any, split: str | None, name: str,
                  input_format: str | None = None) -> Any:
    """Load ``path`` and fit it to the encoder's layout; refuse data of other channels, naming the file."""
    ds = fit_layout(load_data(path, args.layout, split, name, input_format=input_format,
                              trust_pickle=args.trust_pickle), encoder)
    check_channels(
        ds, None, encoder.config, path,
        "use a model trained on such data (see 'slimkit models'), or pretrain one with 'slimkit pretrain'",
    )
    return ds


# ---- sequences without a usable joint (see slimkit.checks) ----------------------------------------------------
def _warn_files(ds: Any, bad: np.ndarray, path: str, name: str, line: Callable[[str], str]) -> None:
    """One warning per file of the first 20 ``bad`` sequences (``line(file)`` says what), then a count."""
    files = SourceFiles(path)
    for i in bad[:20]:
        warn(f"{name}: {line(files(ds.names[i]))}")
    if len(bad) > 20:
        warn(f"{name}: ... and {len(bad) - 20} more such sequences")


def screen(ds: Any, path: str, in_channels: int | None, min_score: float = 0.0, name: str = "data"
           ) -> tuple[Any, Any]:
    """Drop sequences with no usable joint, with one warning per file; returns ``(usable subset, mask)``."""
    mask = usable_mask(ds, in_channels=in_channels, min_score=min_score)
    bad = (~mask).nonzero()[0]
    if len(bad) == 0:
        return ds, mask
    _warn_files(ds, bad, path, name, lambda f: f"skipping {f}: no usable joint in any frame (every joint missing, "
                "invisible, NaN or all-zero)")
    warn(f"{name}: skipped {len(bad)} of {len(ds)} sequences with no usable joint")
    return ds.subset(mask), mask


def warn_unusable(ds: Any, mask: Any, path: str, name: str, what: str) -> None:
    """Warn about the sequences ``mask`` marks unusable (``what`` says what happens to them); none usable is an
    error."""
    bad = (~mask).nonzero()[0]
    _warn_files(ds, bad, path, name, lambda f: f"{f} has no usable joint in any frame: {what}")
    if len(bad):
        warn(f"{name}: {len(bad)} of {len(ds)} sequences have no usable joint")
    if not mask.any():
        raise ValueError(f"{name}: {path}: none of the {len(ds)} sequences has a usable joint")


@contextlib.contextmanager
def naming_files(ds: Any, path: str, prefix: str = r"[\w.]+") -> Iterator[None]:
    """Rewrite an error about item ``prefix[i]`` of ``ds`` (``train_data[828]: ...``) to name its file instead."""
    try:
        yield
    except ValueError as e:
        # also inside a DataLoader worker's wrapped message ("Caught ValueError in DataLoader worker ...")
        found = re.findall(rf"(?:^|\n|ValueError: ){prefix}\[(\d+)\]: ([^\n]*)", str(e))
        if not found or int(found[-1][0]) >= len(ds):
            raise
        i, why = found[-1]
        raise ValueError(f"{SourceFiles(path)(ds.names[int(i)])}: {why}") from None


def screened_pass(encoder: Any, ds: Any, path: str, name: str, what: str, compute: Callable[[Any], Any]
                  ) -> tuple[Any, Any]:
    """``compute(screened)`` over every sequence of ``ds`` in one pass, sequences without a usable joint screened
    (see [`slimkit.checks.Screened`][slimkit.checks.Screened]), an error on an item naming its file; warns about
    the unusable ones (``what`` says what happens to them). Returns ``(result, usable mask)``."""
    screened = Screened(ds, encoder.config.in_channels, encoder.config.min_score)
    with naming_files(ds, path):
        out = compute(screened)
    warn_unusable(ds, screened.usable, path, name, what)
    return out, screened.usable


def embed_rows(args: argparse.Namespace, encoder: Any, ds: Any, path: str, name: str,
               normalize: bool = True) -> tuple[Any, Any]:
    """Embed every sequence in one pass, keeping the row order: a sequence without a usable joint gets an
    all-zero row (see slimkit.checks). Returns ``(embeddings, usable mask)``."""
    emb, mask = screened_pass(
        encoder, ds, path, name, "its row is a zero placeholder (valid=false in the sidecar)",
        lambda screened: encoder.embed(
            screened,
            batch_size=args.batch_size,
            device=args.device,
            normalize=normalize,
            show_progress_bar=not args.quiet,
            precision=getattr(args, "precision", "auto"),
        ),
    )
    emb[~mask] = 0.0
    return emb, mask
