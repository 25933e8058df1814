"""The ``slimkit`` command line: pretrain, embed, index, search, evaluate, predict, list models and plot
runs without writing Python.

Every subcommand reads skeleton data through [`slimkit.data.load`][slimkit.data.load] (NTU ``.skeleton``
folders, CTR-GCN ``.npz``, pyskl ``.pkl``, NW-UCLA ``.json`` folders, Penn Action ``.mat`` folders, plain
``.npy``), writes plain files (``.npy`` embeddings with a ``.json`` sidecar of ids and labels, saved
[`Retriever`][slimkit.retrieval.Retriever] indexes, model folders), and exits non-zero with a one-line
reason when the input is wrong. Sequences with no usable joint are skipped (``pretrain``, ``evaluate``)
or kept as zero rows marked ``valid: false`` in the sidecar (``embed``), with a warning naming each file;
see [`slimkit.checks`][slimkit.checks]. Run ``slimkit <command> --help`` for the options and examples of
each command."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import re
import sys
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


class _Formatter(argparse.RawDescriptionHelpFormatter):
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


# ---- shared helpers ----------------------------------------------------------------------------------------
def _split_of(ds: Any, split: str | None, path: str, name: str) -> Any:
    """The sequences of a named split (all of them without one), with an error listing the splits."""
    if not split:
        return ds
    if split not in ds.split:
        known = sorted(ds.split) or "none (this data has no named splits)"
        raise ValueError(f"{name}: no split named {split!r} in {path}; splits: {known}")
    return ds.subset(split)


def _load_data(
    path: str,
    layout: str | None,
    split: str | None = None,
    name: str = "data",
    input_format: str | None = None,
    trust_pickle: bool = False,
) -> Any:
    """Load a dataset file or folder; with ``split``, keep the sequences of that named split."""
    from slimkit import data

    _check_exists(path, name)
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
    if split:
        if split not in ds.split:
            known = sorted(ds.split) or "none (this data has no named splits)"
            raise ValueError(f"{name}: no split named {split!r} in {path}; splits: {known}")
        ds = ds.subset(split)
    return ds


def _check_exists(path: str, name: str) -> None:
    if not Path(path).exists():
        raise FileNotFoundError(f"{name}: {path}: no such file or folder")


def _check_device(device: str | None, name: str = "--device") -> None:
    """Refuse a torch device that does not parse, or CUDA where none is available, before any work."""
    if device is None:
        return
    import torch

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


def _load_model(name: str) -> Any:
    from slimkit import SLiMEncoder

    return SLiMEncoder.from_pretrained(name)


def _fit_layout(ds: Any, encoder: Any) -> Any:
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


# ---- real-data checks (skip unusable sequences, name files, say which flag fixes a mismatch) ------------------
def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def _screen(ds: Any, path: str, in_channels: int | None, min_score: float = 0.0, name: str = "data") -> tuple[Any, Any]:
    """Drop sequences with no usable joint, with one warning per file; returns ``(usable subset, mask)``."""
    from slimkit.checks import SourceFiles, usable_mask

    mask = usable_mask(ds, in_channels=in_channels, min_score=min_score)
    bad = (~mask).nonzero()[0]
    if len(bad) == 0:
        return ds, mask
    files = SourceFiles(path)
    for i in bad[:20]:
        _warn(f"{name}: skipping {files(ds.names[i])}: no usable joint in any frame (every joint missing, "
              "invisible, NaN or all-zero)")
    if len(bad) > 20:
        _warn(f"{name}: ... and {len(bad) - 20} more such sequences")
    _warn(f"{name}: skipped {len(bad)} of {len(ds)} sequences with no usable joint")
    return ds.subset(mask), mask


@contextlib.contextmanager
def _naming_files(ds: Any, path: str, prefix: str = r"[\w.]+") -> Any:
    """Rewrite an error about item ``prefix[i]`` of ``ds`` (``train_data[828]: ...``) to name its file instead."""
    try:
        yield
    except ValueError as e:
        # also inside a DataLoader worker's wrapped message ("Caught ValueError in DataLoader worker ...")
        found = re.findall(rf"(?:^|\n|ValueError: ){prefix}\[(\d+)\]: ([^\n]*)", str(e))
        if not found or int(found[-1][0]) >= len(ds):
            raise
        from slimkit.checks import SourceFiles

        i, why = found[-1]
        raise ValueError(f"{SourceFiles(path)(ds.names[int(i)])}: {why}") from None


_CHANNEL_WORDS = {2: "(x, y)", 3: "(x, y, z) or (x, y, score)"}


def _check_channels(ds: Any, mask: Any, config: Any, path: str, fix: str) -> None:
    """Refuse data whose values per joint the model cannot read, naming the file and the flag that fixes it."""
    from slimkit.checks import SourceFiles, data_channels

    c = data_channels(ds, mask)
    accepted = (config.in_channels,) + ((3,) if config.in_channels == 2 else ())
    if c not in accepted:
        first = int(mask.argmax()) if mask is not None and mask.any() else 0
        raise ValueError(
            f"{SourceFiles(path)(ds.names[first])}: {c} values per joint {_CHANNEL_WORDS.get(c, '')}, but the "
            f"model reads in_channels={config.in_channels} {_CHANNEL_WORDS[config.in_channels]}; {fix}"
        )


def _plain(values: Any) -> list[Any] | None:
    """A list of JSON-friendly scalars (numpy scalars become Python ones)."""
    if values is None:
        return None
    return [v.item() if hasattr(v, "item") else v for v in list(values)]


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _write_embeddings(path: Path, emb: Any, ds: Any, meta: dict[str, Any]) -> None:
    """Save ``(N, D)`` embeddings and, beside them, a ``.json`` with the ids, labels and class names.

    Both are written to temporary files first and renamed into place only when both are complete, so a
    failure leaves either the previous pair or nothing, never a ``.npy`` without its sidecar.
    """
    info = {
        **meta,
        "shape": list(emb.shape),
        "layout": ds.layout,
        "ids": _plain(ds.names),
        "labels": _plain(ds.labels),
        "classes": ds.classes,
    }
    _write_pair(path, emb, info)


def _write_pair(path: Path, emb: Any, info: dict[str, Any]) -> None:
    """Write ``emb`` to ``path`` (.npy) and ``info`` to its ``.json`` sidecar, both or neither."""
    import tempfile

    import numpy as np

    from slimkit._integrity import apply_umask

    text = json.dumps(info, indent=1)  # fails (e.g. a value JSON cannot hold) before anything is written
    path.parent.mkdir(parents=True, exist_ok=True)
    temps: list[str] = []
    try:
        for suffix in (".npy", ".json"):
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix + ".tmp", dir=path.parent)
            temps.append(tmp)
            with os.fdopen(fd, "wb") as f:
                if suffix == ".npy":
                    np.save(f, emb, allow_pickle=False)
                else:
                    f.write(text.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            apply_umask(Path(tmp))
        os.replace(temps[0], path)
        os.replace(temps[1], _sidecar(path))
    finally:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _read_embeddings(path: str, name: str = "embeddings") -> tuple[Any, dict[str, Any]]:
    """``(N, D)`` float32 embeddings from a ``.npy`` file, and its sidecar's content (``{}`` if none)."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name}: {path}: no such file")
    if p.suffix != ".npy":
        raise ValueError(
            f"{name}: expected a .npy file of embeddings (N, D) as written by 'slimkit embed', got {path}"
        )
    try:
        emb = np.load(p, allow_pickle=False)
    except (ValueError, EOFError, OverflowError, OSError) as e:
        raise ValueError(f"{name}: {path} is not a plain numeric .npy file ({e})") from None
    if emb.ndim != 2 or not np.issubdtype(emb.dtype, np.floating):
        raise ValueError(
            f"{name}: expected a float array of shape (N, D) in {path}, got {emb.dtype} "
            f"{emb.shape}; embed skeleton data first with 'slimkit embed'"
        )
    side = _sidecar(p)
    info = _read_sidecar(side) if side.is_file() else {}
    shape = info.get("shape")
    if shape is not None and (not isinstance(shape, list) or not shape or shape[0] != len(emb)):
        raise ValueError(f"{side}: shape: describes embeddings of shape {shape!r} but {path} holds {len(emb)}")
    for key in ("ids", "labels"):
        values = info.get(key)
        if values is not None and (not isinstance(values, list) or len(values) != len(emb)):
            got = f"{len(values)} entries" if isinstance(values, list) else type(values).__name__
            raise ValueError(f"{side}: {key}: expected a list of {len(emb)} (one per row of {path}), got {got}")
    if not np.isfinite(emb).all():
        raise ValueError(f"{name}: {path} holds NaN or inf")
    return emb.astype(np.float32, copy=False), info


def _read_sidecar(side: Path) -> dict[str, Any]:
    """The ``.json`` sidecar of an embeddings file: a JSON object."""
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{side}: not a readable JSON sidecar ({type(e).__name__}: {e})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{side}: expected a JSON object (ids, labels, ...), got a JSON {type(info).__name__}")
    return info


def _read_list(path: str | None, n: int, name: str) -> list[Any] | None:
    """Labels or ids, one per line (``.txt``) or a ``.npy`` vector; must hold ``n`` entries."""
    if path is None:
        return None
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name}: {path}: no such file")
    if p.suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, EOFError, OverflowError, OSError) as e:
            raise ValueError(f"{name}: {path} is not a plain numeric .npy file ({e})") from None
        if arr.ndim != 1:
            raise ValueError(f"{name}: {path}: expected a vector (N,), got shape {arr.shape}")
        values = arr.tolist()
    else:
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{name}: {path} is not a UTF-8 text file ({e})") from None
        values = [line.strip() for line in text.splitlines() if line.strip()]
        try:
            values = [int(v) for v in values]
        except ValueError:
            pass
    if len(values) != n:
        raise ValueError(f"{name}: {path} has {len(values)} entries, expected {n} (one per embedding)")
    return values


# ---- subcommands -------------------------------------------------------------------------------------------
def _say(args: argparse.Namespace, msg: str) -> None:
    """A setup message on stderr (the first seconds of a command are otherwise silent), unless --quiet.

    ``pretrain`` always says them (its log is read later); the other commands only on a terminal, so that a
    script's stderr holds just warnings and errors.
    """
    if getattr(args, "quiet", False):
        return
    if args.command == "pretrain" or sys.stderr.isatty():
        print(msg, file=sys.stderr, flush=True)


def _pretrain_config(args: argparse.Namespace, ds: Any, mask: Any) -> Any:
    """The config (or encoder path) to pretrain: channels and layout from the data unless flags say otherwise."""
    import dataclasses

    from slimkit import SLiMConfig
    from slimkit.checks import data_channels, infer_in_channels

    if args.resume_from:
        return args.resume_from
    inferred = infer_in_channels(data_channels(ds, mask), ds.layout)
    if args.config:
        config = SLiMConfig.from_json_file(args.config)
        changes: dict[str, Any] = {}
        if args.in_channels:
            changes["in_channels"] = args.in_channels
        if args.normalize_scale is not None:
            changes["normalize_scale"] = args.normalize_scale
        return dataclasses.replace(config, **changes) if changes else config
    in_channels = args.in_channels or inferred
    overrides: dict[str, Any] = {"layout": args.layout or ds.layout, "in_channels": in_channels}
    # 2-D keypoints are pixels (hundreds of units, image-sized): scale them to unit RMS unless told otherwise
    overrides["normalize_scale"] = in_channels == 2 if args.normalize_scale is None else args.normalize_scale
    return getattr(SLiMConfig, args.preset)(**overrides)


def _cmd_pretrain(args: argparse.Namespace) -> int:
    import torch

    from slimkit import SLiMConfig, SLiMEncoder, Trainer

    _check_device(args.device)
    paths = list(args.data)
    one = len(paths) == 1
    if args.weights is not None and len(args.weights) != len(paths):
        raise ValueError(f"--weights: expected one weight per data set ({len(paths)}), got {len(args.weights)}")
    sets, total = [], 0
    for path in paths:
        _say(args, f"reading {path} ...")
        # with several sets, --split applies to those that have it; the others are used whole
        d = _load_data(path, args.layout if one else None, args.split if one else None,
                       input_format=args.input_format, trust_pickle=args.trust_pickle)
        if args.split and not one and args.split in d.split:
            d = d.subset(args.split)
        total += len(d)
        d, _ = _screen(d, path, None, name="data")  # from here on, every item has a usable joint
        sets.append(d)
    ds = sets[0]
    config_or_encoder = _pretrain_config(args, ds, None)
    if isinstance(config_or_encoder, SLiMConfig):
        config = config_or_encoder
        fix = (
            "pass --in-channels matching the data (or leave it out: it is read from the data)"
            if not args.config
            else "pass --in-channels matching the data, or use a --config with that in_channels"
        )
    else:
        _say(args, f"loading {config_or_encoder} ...")
        config_or_encoder = SLiMEncoder.from_pretrained(config_or_encoder)
        config = config_or_encoder.config
        fix = "this model cannot read these data: pretrain a new one without --resume-from"
    for k, (path, d) in enumerate(zip(paths, sets)):
        if config.layout != d.layout:
            try:
                converted = d.to_layout(config.layout)
            except ValueError as e:
                raise ValueError(
                    f"data {path} are in layout {d.layout!r} but the model's is {config.layout!r} ({e}); "
                    "pass --layout to name the data's layout, or a --config / --resume-from model in it"
                ) from None
            _say(args, f"{path}: converting joints from layout {d.layout!r} to the model's {config.layout!r}")
            d = converted
        _check_channels(d, None, config, path, fix)
        # screen again with the model's channel reading (a 2-D model drops (x, y, score) joints at min_score)
        sets[k], _ = _screen(d, path, config.in_channels, config.min_score, name="data")
    ds = sets[0]
    eval_data = None
    if args.eval_split:
        eval_data = _load_data(paths[0], args.layout if one else None, args.eval_split, name="--eval-split",
                               trust_pickle=args.trust_pickle)
        eval_data, _ = _screen(eval_data, paths[0], config.in_channels, config.min_score, "--eval-split")
        if eval_data.layout != config.layout:
            eval_data = eval_data.to_layout(config.layout)
    skipped = total - sum(len(d) for d in sets)
    _say(
        args,
        f"{sum(len(d) for d in sets)} sequences"
        + (f" from {len(sets)} data sets" if not one else "")
        + f", layout {config.layout}, in_channels {config.in_channels}, "
        f"{config.num_frames} frames, normalize_scale {config.normalize_scale}"
        + (f" ({skipped} skipped)" if skipped else "")
        + "; building the model and the data loader ...",
    )
    options = dict(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        precision=args.precision,
        max_steps=args.max_steps,
        seed=args.seed,
        eval_data=eval_data,
        show_progress_bar=not args.quiet,
        data_description=" + ".join(f"{Path(p).name} ({len(d)} sequences)" for p, d in zip(paths, sets))
        + (f", split {args.split}" if args.split else ""),
    )
    if not one:
        # several data sets, each already in the model's layout, sampled by --weights (default: by size)
        options["dataset_weights"] = args.weights or [float(len(d)) for d in sets]
    # options left unset keep the trainer's defaults
    trainer = Trainer(
        config_or_encoder,
        ds if one else sets,
        output_dir=args.output_dir,
        **{k: v for k, v in options.items() if v is not None},
    )
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    _say(args, f"training on {device}; metrics go to {Path(args.output_dir) / 'metrics.jsonl'}")
    with _naming_files(eval_data if eval_data is not None else ds, paths[0], "eval_data"):
        # a corpus of several sets is indexed across them: name files only for a single set
        with _naming_files(ds, paths[0], "train_data") if one else contextlib.nullcontext():
            record = _fit_with_monitor(trainer, quiet=args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one process writes the result
        out = Path(args.output_dir) / "encoder"
        trainer.encoder.save_pretrained(out)
        loss = record.get("loss") if isinstance(record, dict) else None
        knn = record.get("knn_top1") if isinstance(record, dict) else None
        print(
            f"done: step {trainer.global_step}"
            + (f", loss {loss:.4f}" if isinstance(loss, float) else "")
            + (f", kNN monitor top-1 {100 * knn:.2f} %" if isinstance(knn, float) else "")
            + (f", {skipped} sequences skipped" if skipped else "")
            + f"; saved the encoder to {out} (SLiMEncoder.from_pretrained({str(out)!r}))"
        )
    return 0


def _fit_with_monitor(trainer: Any, quiet: bool = False) -> Any:
    """``trainer.fit()``, printing each kNN monitor result to the terminal as well as to metrics.jsonl."""
    from tqdm import tqdm

    if trainer.eval_source is None or int(os.environ.get("RANK", "0")) != 0:
        return trainer.fit()
    evaluate = trainer.evaluate

    def evaluate_and_print(*a: Any, **kw: Any) -> dict[str, float]:
        res = evaluate(*a, **kw)
        if "knn_top1" in res:
            tqdm.write(
                f"step {trainer.global_step}: kNN monitor (leave-one-out 1-NN, eval split) top-1 "
                f"{100 * res['knn_top1']:.2f} %",
                file=sys.stderr,
            )
        return res

    trainer.evaluate = evaluate_and_print
    try:
        return trainer.fit()
    finally:
        del trainer.evaluate


def _prepared_data(args: argparse.Namespace, path: str, encoder: Any, split: str | None, name: str,
                   input_format: str | None = None) -> Any:
    """Load ``path`` and fit it to the encoder's layout; refuse data of other channels, naming the file."""
    ds = _fit_layout(_load_data(path, args.layout, split, name, input_format=input_format,
                                trust_pickle=args.trust_pickle), encoder)
    _check_channels(
        ds, None, encoder.config, path,
        "use a model trained on such data (see 'slimkit models'), or pretrain one with 'slimkit pretrain'",
    )
    return ds


def _warn_unusable(ds: Any, mask: Any, path: str, name: str, what: str) -> None:
    from slimkit.checks import SourceFiles

    bad = (~mask).nonzero()[0]
    files = SourceFiles(path)
    for i in bad[:20]:
        _warn(f"{name}: {files(ds.names[i])} has no usable joint in any frame: {what}")
    if len(bad) > 20:
        _warn(f"{name}: ... and {len(bad) - 20} more such sequences")
    if len(bad):
        _warn(f"{name}: {len(bad)} of {len(ds)} sequences have no usable joint")
    if not mask.any():
        raise ValueError(f"{name}: {path}: none of the {len(ds)} sequences has a usable joint")


def _embed_rows(args: argparse.Namespace, encoder: Any, ds: Any, path: str, name: str,
                normalize: bool = True) -> tuple[Any, Any]:
    """Embed every sequence in one pass, keeping the row order: a sequence without a usable joint gets an
    all-zero row (see slimkit.checks). Returns ``(embeddings, usable mask)``."""
    from slimkit.checks import Screened

    screened = Screened(ds, encoder.config.in_channels, encoder.config.min_score)
    with _naming_files(ds, path):
        emb = encoder.embed(
            screened,
            batch_size=args.batch_size,
            device=args.device,
            normalize=normalize,
            show_progress_bar=not args.quiet,
            precision=getattr(args, "precision", "auto"),
        )
    mask = screened.usable
    _warn_unusable(ds, mask, path, name, "its row is a zero placeholder (valid=false in the sidecar)")
    emb[~mask] = 0.0
    return emb, mask


def _center_rows(args: argparse.Namespace, encoder: Any, ds: Any, path: str, name: str) -> tuple[Any, Any]:
    """The kNN protocol's centre-view features of the usable sequences, in one pass; ``(features, usable)``."""
    from slimkit.checks import Screened
    from slimkit.evaluation import center_view_embeddings

    screened = Screened(ds, encoder.config.in_channels, encoder.config.min_score)
    with _naming_files(ds, path):
        x = center_view_embeddings(screened, encoder, batch_size=args.batch_size, device=args.device)
    mask = screened.usable
    _warn_unusable(ds, mask, path, name, "skipped")
    return x[mask], mask


def _cmd_embed(args: argparse.Namespace) -> int:
    _check_device(args.device)
    _check_exists(args.data, "data")
    out = Path(args.output)
    if out.suffix != ".npy":
        raise ValueError(f"--output: expected a .npy file name, got {args.output}")
    if args.window is None and (args.stride is not None or args.fps is not None):
        raise ValueError("--stride and --fps apply to windows: add --window W")
    _say(args, f"loading the model {args.model} ...")
    encoder = _load_model(args.model)
    _say(args, f"reading {args.data} ...")
    ds = _prepared_data(args, args.data, encoder, args.split, "data", args.input_format)
    meta = {"model": args.model, "data": str(args.data), "split": args.split, "normalized": not args.no_normalize}
    if args.window is not None:
        return _embed_windows(args, encoder, ds, out, meta)
    emb, mask = _embed_rows(args, encoder, ds, args.data, "data", normalize=not args.no_normalize)
    skipped = [ds.names[i] for i in (~mask).nonzero()[0]]
    _write_embeddings(
        out,
        emb,
        ds,
        {
            **meta,
            "valid": mask.tolist(),
            "skipped": skipped,
            "placeholder": "rows with valid=false are all-zero vectors: their sequence has no usable joint",
            "splits": {k: v.tolist() for k, v in ds.split.items()},
        },
    )
    print(
        f"wrote {emb.shape[0]} embeddings of dimension {emb.shape[1]} to {out} "
        f"(ids and labels in {_sidecar(out)})"
        + (f"; {len(skipped)} sequences without a usable joint are zero rows, valid=false" if skipped else "")
    )
    return 0


def _embed_windows(args: argparse.Namespace, encoder: Any, ds: Any, out: Path, meta: dict[str, Any]) -> int:
    """``slimkit embed --window``: one row per (recording, start, end); the sidecar lists the windows."""
    import numpy as np

    res = encoder.embed_windows(
        ds, window=args.window, stride=args.stride, fps=args.fps, batch_size=args.batch_size,
        device=args.device, normalize=not args.no_normalize, show_progress_bar=not args.quiet,
        precision=args.precision,
    )
    names = list(ds.names)
    labels = np.asarray(ds.labels)[res.sequence]
    rec = [names[i] for i in res.sequence]
    info = {
        **meta,
        "shape": list(res.embeddings.shape),
        "layout": ds.layout,
        "window": res.window,
        "stride": res.stride,
        "fps": res.fps,
        "ids": [f"{r}@{a}-{b}" for r, a, b in zip(rec, res.start.tolist(), res.end.tolist(), strict=True)],
        "labels": _plain(labels),
        "classes": ds.classes,
        "windows": [[r, a, b] for r, a, b in zip(rec, res.start.tolist(), res.end.tolist(), strict=True)],
    }
    if res.fps is not None:
        info["times"] = [[float(a), float(b)] for a, b in zip(res.start_time, res.end_time, strict=True)]
    _write_pair(out, res.embeddings, info)
    print(
        f"wrote {len(res)} window embeddings ({len(set(res.sequence.tolist()))} recordings, window "
        f"{res.window}, stride {res.stride}) of dimension {res.embeddings.shape[1]} to {out} "
        f"(recording, start, end of each row in {_sidecar(out)})"
    )
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from slimkit import Retriever

    emb, info = _read_embeddings(args.embeddings)
    if info.get("windows") is not None:
        return _index_windows(args, emb, info)
    ids = _read_list(args.ids, len(emb), "--ids") or info.get("ids")
    labels = _read_list(args.labels, len(emb), "--labels") or info.get("labels")
    if labels is not None and all(v == -1 for v in labels):
        labels = None  # unlabelled data
    valid = info.get("valid")
    if valid is not None and not all(valid):  # zero placeholders of sequences without a usable joint
        keep = [i for i, v in enumerate(valid) if v]
        _warn(f"{args.embeddings}: leaving out {len(valid) - len(keep)} placeholder rows (valid=false)")
        emb = emb[keep]
        ids = None if ids is None else [ids[i] for i in keep]
        labels = None if labels is None else [labels[i] for i in keep]
    notes = {k: info[k] for k in ("model", "data", "layout", "classes") if info.get(k) is not None}
    retriever = Retriever(
        dim=int(emb.shape[1]), metric=args.metric, index=args.index, device=args.device, info=notes
    )
    retriever.add(emb, ids=ids, labels=labels)
    retriever.save(args.output)
    print(f"indexed {len(retriever)} embeddings ({args.index}, {args.metric}) into {args.output}")
    return 0


def _index_windows(args: argparse.Namespace, emb: Any, info: dict[str, Any]) -> int:
    """Window embeddings (``slimkit embed --window``) go into a MomentIndex file."""
    import numpy as np

    from slimkit.moments import MomentIndex

    if args.ids or args.labels:
        raise ValueError("--ids / --labels: window embeddings take the recording ids from their sidecar")
    windows = info["windows"]
    if len(windows) != len(emb):
        raise ValueError(f"{args.embeddings}: the sidecar lists {len(windows)} windows for {len(emb)} rows")
    idx = MomentIndex(None, window=int(info["window"]), stride=int(info["stride"]), fps=info.get("fps"),
                      dim=int(emb.shape[1]), metric=args.metric, index=args.index, device=args.device)
    notes = {k: info[k] for k in ("model", "data", "layout") if info.get(k) is not None}
    idx.retriever.info.update(notes)
    idx.add_windows(emb, [w[0] for w in windows], np.array([w[1] for w in windows], dtype=np.int64),
                    np.array([w[2] for w in windows], dtype=np.int64))
    idx.save(args.output)
    print(f"indexed {len(idx)} windows of {len(idx.recordings)} recordings as a moment index into "
          f"{args.output} ('slimkit search' answers with moments: recording, start, end)")
    return 0


def _label_name(label: Any, classes: list[str] | None) -> str:
    if classes and isinstance(label, int) and 0 <= label < len(classes):
        return f"{label} ({classes[label]})"
    return str(label)


def _cmd_search(args: argparse.Namespace) -> int:
    import numpy as np

    from slimkit import Retriever

    if args.k < 1:
        raise ValueError(f"-k: expected a positive number of neighbours, got {args.k}")
    _check_device(args.device)
    _check_exists(args.index, "index")
    retriever = Retriever.load(args.index)
    if "moment_index" in retriever.info:
        return _search_moments(args, retriever)
    q_labels: list[Any] | None = None
    q_valid: list[bool] | None = None
    if args.model is None:
        if not args.queries.endswith(".npy"):
            raise ValueError("--queries is not a .npy of embeddings: pass --model to embed skeleton data")
        q, info = _read_embeddings(args.queries, "--queries")
        q_ids, q_labels, q_valid = info.get("ids"), info.get("labels"), info.get("valid")
    else:
        _check_exists(args.queries, "--queries")
        encoder = _load_model(args.model)
        ds = _prepared_data(args, args.queries, encoder, None, "--queries", args.input_format)
        q, mask = _embed_rows(args, encoder, ds, args.queries, "--queries")
        q_ids, q_labels, q_valid = list(ds.names), _plain(ds.labels), mask.tolist()
    if q.shape[1] != retriever.dim:
        raise ValueError(
            f"--queries: embeddings of dimension {q.shape[1]}, but the index holds dimension "
            f"{retriever.dim} (embed the queries with the index's model)"
        )
    if args.query_ids is not None:
        if not q_ids:
            raise ValueError(f"--ids: {args.queries} has no ids (no .json sidecar beside it); use --rows")
        pos = {str(v): i for i, v in enumerate(q_ids)}
        unknown = [v for v in args.query_ids if v not in pos]
        if unknown:
            import difflib

            close = sorted({m for u in unknown for m in difflib.get_close_matches(u, list(pos), n=3)})
            raise ValueError(
                f"--ids: {unknown} not among the {len(q_ids)} query ids of {args.queries}"
                + (f"; close: {close}" if close else f"; e.g. {list(pos)[:3]}")
            )
        rows = [pos[v] for v in args.query_ids]
    else:
        rows = list(range(len(q))) if args.rows is None else args.rows
    bad = [r for r in rows if not -len(q) <= r < len(q)]
    if bad:
        raise ValueError(f"--rows: {bad} out of range for {len(q)} queries (rows are 0-based; use --ids "
                         "to query by id)")
    if q_valid is not None:
        skip = [r for r in rows if not q_valid[r]]
        for r in skip:
            _warn(f"query {q_ids[r] if q_ids else r}: no usable joint (placeholder row), not searched")
        rows = [r for r in rows if q_valid[r]]
    extra = 1 if args.exclude_self else 0
    res = retriever.search(np.ascontiguousarray(q[rows]), k=min(args.k + extra, max(len(retriever), 1)))
    classes = retriever.info.get("classes")

    def class_name(label: Any) -> str | None:
        if classes and isinstance(label, int) and 0 <= label < len(classes):
            return classes[label]
        return None

    out = []
    for i, r in enumerate(rows):
        qid = _plain([q_ids[r]])[0] if q_ids else r
        hits = []
        for j in range(res.ids.shape[1]):
            if res.ids[i, j] is None or (not isinstance(res.ids[i, j], str) and res.ids[i, j] < 0):
                continue  # empty slot: fewer items than k
            hid = _plain([res.ids[i, j]])[0]
            if args.exclude_self and q_ids and hid == qid:
                continue
            label = None if res.labels is None else _plain([res.labels[i, j]])[0]
            hits.append({"id": hid, "score": float(res.scores[i, j]), "label": label, "class": class_name(label)})
        hits = hits[: args.k]
        item: dict[str, Any] = {"query": qid, "row": r}
        if q_labels is not None and q_labels[r] != -1:
            item.update(label=q_labels[r], **{"class": class_name(q_labels[r])})
        item["hits"] = hits
        out.append(item)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(out, indent=1), encoding="utf-8")
        print(f"wrote {len(out)} queries x top-{args.k} to {args.output}", file=sys.stderr)
    if not (args.quiet and args.output):
        for item in out:
            lab = "" if item.get("label") is None else f"  label {_label_name(item['label'], classes)}"
            print(f"query {item['query']}:{lab}")
            for rank, h in enumerate(item["hits"], 1):
                lab = "" if h["label"] is None else f"  label {_label_name(h['label'], classes)}"
                print(f"  {rank:>2}. {h['id']}  score {h['score']:.4f}{lab}")
    return 0


def _search_moments(args: argparse.Namespace, retriever: Any) -> int:
    """Search a moment index: top-k moments (recording, start, end, score) per query, after temporal NMS."""
    import numpy as np

    from slimkit.moments import MomentIndex

    idx = MomentIndex.load(args.index)
    if args.model is None:
        if not args.queries.endswith(".npy"):
            raise ValueError("--queries is not a .npy of embeddings: pass --model to embed skeleton data")
        q, info = _read_embeddings(args.queries, "--queries")
        q_ids = info.get("ids")
    else:
        _check_exists(args.queries, "--queries")
        encoder = _load_model(args.model)
        ds = _fit_layout(
            _load_data(args.queries, args.layout, name="--queries", input_format=args.input_format,
                       trust_pickle=args.trust_pickle), encoder
        )
        q_ids = ds.names
        q = encoder.embed(ds, batch_size=args.batch_size, device=args.device, show_progress_bar=not args.quiet,
                          precision=args.precision)
    if q.shape[1] != retriever.dim:
        raise ValueError(f"--queries: embeddings of dimension {q.shape[1]}, but the index holds dimension "
                         f"{retriever.dim} (embed the queries with the index's model)")
    rows = list(range(len(q))) if args.rows is None else args.rows
    bad = [r for r in rows if not -len(q) <= r < len(q)]
    if bad:
        raise ValueError(f"--rows: {bad} out of range for {len(q)} queries")
    res = idx.search(np.ascontiguousarray(q[rows]), k=args.k, iou_threshold=args.iou_threshold)
    out = [{"query": q_ids[r] if q_ids else r, "moments": [m.to_dict() for m in moments]}
           for r, moments in zip(rows, res, strict=True)]
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(out, indent=1), encoding="utf-8")
        print(f"wrote {len(out)} queries x top-{args.k} moments to {args.output}", file=sys.stderr)
    if not (args.quiet and args.output):
        for item in out:
            print(f"query {item['query']}:")
            for rank, m in enumerate(item["moments"], 1):
                when = "" if m["start_time"] is None else f" ({m['start_time']:.2f}-{m['end_time']:.2f} s)"
                print(f"  {rank:>2}. {m['recording']}  frames {m['start']}-{m['end']}{when}  score "
                      f"{m['score']:.4f}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from slimkit.classifier import SLiMClassifier

    _check_exists(args.data, "data")
    if args.top_k < 1:
        raise ValueError(f"--top-k: expected a positive number of classes, got {args.top_k}")
    if args.output and Path(args.output).suffix not in (".json", ".csv"):
        raise ValueError(f"--output: expected a .json or .csv file name, got {args.output}")
    clf = SLiMClassifier.from_pretrained(args.model)
    ds = _fit_layout(_load_data(args.data, args.layout, args.split, input_format=args.input_format,
                                trust_pickle=args.trust_pickle), clf.encoder)
    pred = clf.predict(ds, batch_size=args.batch_size, device=args.device)
    top = pred.top_k(args.top_k)
    rows = [
        {"id": name, "prediction": pred.names[i], "probability": float(pred.confidence[i]),
         "top_k": [{"class": c, "probability": p} for c, p in top[i]]}
        for i, name in enumerate(ds.names)
    ]
    labels = np.asarray(ds.labels)
    accuracy = None
    if len(labels) and (labels >= 0).all():
        truth = [ds.classes[v] if ds.classes and 0 <= v < len(ds.classes) else str(v) for v in labels.tolist()]
        if set(truth) <= set(clf.classes):
            accuracy = float(np.mean([p == t for p, t in zip(pred.names, truth, strict=True)]))
            for row, t in zip(rows, truth, strict=True):
                row["label"] = t
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".csv":
            import csv
            import io

            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["id", "prediction", "probability"] + (["label"] if accuracy is not None else []))
            for r in rows:
                w.writerow([r["id"], r["prediction"], f"{r['probability']:.6f}"]
                           + ([r["label"]] if accuracy is not None else []))
            out.write_text(buf.getvalue(), encoding="utf-8")
        else:
            out.write_text(json.dumps({"model": args.model, "classes": clf.classes, "accuracy": accuracy,
                                       "predictions": rows}, indent=1), encoding="utf-8")
        print(f"wrote {len(rows)} predictions to {out}", file=sys.stderr)
    if not (args.quiet and args.output):
        for r in rows:
            alts = "  ".join(f"{c['class']} {c['probability']:.3f}" for c in r["top_k"][1:])
            print(f"{r['id']}\t{r['prediction']}\t{r['probability']:.4f}" + (f"\t({alts})" if alts else ""))
    if accuracy is not None:
        print(f"accuracy against the data's labels: {100 * accuracy:.2f} % ({len(rows)} sequences)",
              file=sys.stderr)
    return 0


_SPLIT_PAIRS = (
    ("train", "test"),
    ("train", "val"),
    ("xsub_train", "xsub_val"),
    ("xview_train", "xview_val"),
    ("xset_train", "xset_val"),
)


def _default_splits(splits: Any, source: str) -> tuple[str, str]:
    """The data's own train/test split names, when it has exactly one standard pair (first match wins)."""
    names = set(splits)
    for tr, te in _SPLIT_PAIRS:
        if tr in names and te in names:
            return tr, te
    raise ValueError(
        f"{source}: say which sequences to test on: --test DATA, or --train-split and --test-split; "
        f"the data's splits are {sorted(names) or 'none'}"
    )


def _embedding_set(path: str, split: str | None, name: str) -> tuple[Any, Any, dict[str, Any]]:
    """Embeddings, labels and sidecar of a ``slimkit embed`` output, optionally one split's rows, valid rows only."""
    import numpy as np

    emb, info = _read_embeddings(path, name)
    labels = info.get("labels")
    if labels is None:
        raise ValueError(f"{name}: {path} has no labels (no .json sidecar from 'slimkit embed' beside it)")
    rows = np.arange(len(emb))
    if split is not None:
        splits = info.get("splits") or {}
        if split not in splits:
            raise ValueError(f"{name}: no split named {split!r} in {_sidecar(Path(path))}; splits: {sorted(splits)}")
        rows = np.asarray(splits[split], dtype=np.int64)
    valid = np.asarray(info.get("valid") or [True] * len(emb), dtype=bool)
    rows = rows[valid[rows]]
    return emb[rows], np.asarray(labels)[rows], info


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.save_classifier and not args.linear_probe:
        raise ValueError("--save-classifier saves the linear probe's head: add --linear-probe")
    from slimkit import knn_accuracy, linear_probe
    from slimkit.metrics import classification_report

    _check_device(args.device)

    from_embeddings = args.train.endswith(".npy") and args.model is None
    if args.test:
        _check_exists(args.test, "--test")
    _check_exists(args.train, "train")
    train_split, test_split = args.train_split, args.test_split
    encoder = None
    results: dict[str, Any] = {"model": args.model}
    if from_embeddings:
        if args.test is None and not (train_split and test_split):
            _, info = _read_embeddings(args.train, "train")
            train_split, test_split = _default_splits(info.get("splits") or {}, args.train)
            _say(args, f"using the data's own split: {train_split} / {test_split}")
        x_train, y_train, info = _embedding_set(args.train, train_split, "train")
        x_test, y_test, _ = _embedding_set(args.test or args.train, test_split, "test")
        results["skipped"] = info.get("skipped") or []
        classes = info.get("classes")
        results.update(model=info.get("model"), embeddings=args.train)
        views = f"embeddings read from {args.train}" + (f" and {args.test}" if args.test else "")
    else:
        if args.model is None:
            raise ValueError("--model: required to evaluate skeleton data (or pass embeddings .npy from "
                             "'slimkit embed')")
        _say(args, f"loading the model {args.model} ...")
        encoder = _load_model(args.model)
        _say(args, f"reading {args.train} ...")
        base = _prepared_data(args, args.train, encoder, None, "train")
        if args.test is None and not (train_split and test_split):
            train_split, test_split = _default_splits(base.split, args.train)
            _say(args, f"using the data's own split: {train_split} ({len(base.split[train_split])}) / "
                       f"{test_split} ({len(base.split[test_split])})")
        train = _split_of(base, train_split, args.train, "train")
        if args.test:
            test = _prepared_data(args, args.test, encoder, test_split, "--test")
        else:
            test = _split_of(base, test_split, args.train, "test")
        for name, ds in (("train", train), ("test", test)):
            if (ds.labels < 0).any():
                raise ValueError(
                    f"{name}: {(ds.labels < 0).sum()} of {len(ds)} sequences have no label; evaluation "
                    "needs labelled data"
                )
        _say(args, f"embedding {len(train)} train and {len(test)} test sequences (once, for every k) ...")
        x_train, train_ok = _center_rows(args, encoder, train, args.train, "train")
        x_test, test_ok = _center_rows(args, encoder, test, args.test or args.train, "test")
        results["skipped"] = {
            "train": [train.names[i] for i in (~train_ok).nonzero()[0]],
            "test": [test.names[i] for i in (~test_ok).nonzero()[0]],
        }
        train, test = train.subset(train_ok), test.subset(test_ok)
        y_train, y_test, classes = train.labels, test.labels, train.classes
        views = (
            f"encoder embeddings of the centre view (crop p=0.95 of the valid frames, resampled to "
            f"{encoder.config.num_frames} frames)"
        )
    results.update(train=int(len(x_train)), test=int(len(x_test)),
                   train_split=train_split, test_split=test_split)
    reports: dict[str, Any] = {}
    for k in args.k:
        res = knn_accuracy(x_train, y_train, x_test, y_test, k=k)
        res.protocol = res.protocol.replace("precomputed embeddings", views)
        rep = classification_report(res, classes)
        reports[f"knn_k{k}"] = rep
        results[f"knn_top1_k{k}"] = float(res.accuracy)
        results[f"knn_k{k}_protocol"] = res.protocol
        print(f"kNN (k={k}): top-1 {100 * rep['top1']:.2f} %, top-5 {100 * rep['top5']:.2f} %, mean class "
              f"{100 * rep['mean_class_accuracy']:.2f} %  [{res.protocol}]")
    if args.linear_probe:
        if encoder is not None:
            res = linear_probe(
                train, None, test, None, encoder=encoder, epochs=args.probe_epochs,
                embed_batch_size=args.batch_size, device=args.device, show_progress_bar=not args.quiet,
            )
        else:
            res = linear_probe(
                x_train, y_train, x_test, y_test, epochs=args.probe_epochs, device=args.device,
                show_progress_bar=not args.quiet,
            )
        rep = classification_report(res, classes)
        reports["linear_probe"] = rep
        results["linear_probe_top1"] = float(res.accuracy)
        results["linear_probe_protocol"] = res.protocol
        print(f"linear probe: top-1 {100 * rep['top1']:.2f} %, top-5 {100 * rep['top5']:.2f} %, mean class "
              f"{100 * rep['mean_class_accuracy']:.2f} %  [{res.protocol}]")
        if args.save_classifier:
            if encoder is None:
                raise ValueError("--save-classifier needs the encoder: evaluate skeleton data with --model, "
                                 "not saved embeddings")
            described = f"{args.train}" + (f" (split {train_split})" if train_split else "")
            tested = f"{args.test or args.train}" + (f" (split {test_split})" if test_split else "")
            clf = res.to_classifier(encoder, class_names=classes,
                                    training_data=f"{described}, {len(x_train)} sequences",
                                    test_data=f"{tested}, {len(x_test)} sequences")
            clf.save_pretrained(args.save_classifier)
            results["classifier"] = str(args.save_classifier)
            print(f"saved the classifier (encoder + probe head, {clf.num_classes} classes) to "
                  f"{args.save_classifier}: slimkit predict -m {args.save_classifier} DATA")
    results["reports"] = reports
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(results, indent=1), encoding="utf-8")
        os.replace(tmp, out)
        pngs = []
        if not args.no_plots:
            try:
                from slimkit.viz import plot_confusion_matrix
            except ImportError as e:  # matplotlib missing: the JSON still has the matrices
                _warn(f"no confusion-matrix PNG ({e})")
            else:
                for name, rep in reports.items():
                    png = out.with_name(f"{out.stem}.{name}.confusion.png")
                    plot_confusion_matrix(rep["confusion_matrix"], rep["labels"], png,
                                          title=f"{name}: top-1 {100 * rep['top1']:.1f} %")
                    pngs.append(str(png))
        print(f"wrote {out}" + (f" and {len(pngs)} confusion matrices ({', '.join(pngs)})" if pngs else ""),
              file=sys.stderr)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from slimkit.registry import list_pretrained

    models = list_pretrained(args.filter, info=True)
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=1))
        return 0
    if not models:
        print("no pretrained models" + (f" match {args.filter!r}" if args.filter else "") +
              " (none ships with this install and none is in the Hub cache)")
        return 0
    rows = [("name", "source", "layout", "channels", "frames", "width", "trained on")]
    for m in models:
        rows.append((m.name, m.source, m.layout, str(m.in_channels), str(m.num_frames), str(m.dim),
                     m.training_data or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    if args.verbose:
        for m in models:
            if m.results:
                print(f"\n{m.name}:")
                for k, v in m.results.items():
                    print(f"  {k}: {v}")
    return 0


def _cmd_plot_metrics(args: argparse.Namespace) -> int:
    from slimkit.viz import plot_metrics

    _check_exists(args.run_dir, "run_dir")
    out = Path(args.output) if args.output else Path(args.run_dir) / "metrics.png"
    plot_metrics(args.run_dir, out, keys=args.keys)
    print(f"wrote {out}")
    return 0


# ---- parser ------------------------------------------------------------------------------------------------
def _trust_pickle_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle .pkl data without restrictions (it can run code: only for files you trust); by "
        "default only builtin containers and numpy arrays are admitted",
    )


def _common(p: argparse.ArgumentParser, model: bool = True, model_required: bool = True) -> None:
    if model:
        p.add_argument(
            "--model",
            "-m",
            required=model_required,
            help="model folder, Hub repo id or shipped name (list them with 'slimkit models')"
            + ("" if model_required else "; not needed when TRAIN is embeddings (.npy from 'slimkit embed')"),
        )
    p.add_argument(
        "--layout", help="joint layout of the data when the file does not say (ntu25, coco17, ...)"
    )
    p.add_argument("--batch-size", type=int, default=64, help="sequences per forward pass")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``slimkit`` command (all subcommands)."""
    parser = argparse.ArgumentParser(
        prog="slimkit",
        description="Skeleton action embeddings (SLiM): pretrain an encoder, embed sequences, build and "
        "search a retrieval index, evaluate with kNN and a linear probe, list the pretrained models.",
        epilog=_MAIN_EPILOG,
        formatter_class=_Formatter,
    )
    from slimkit._version import __version__

    parser.add_argument("--version", action="version", version=f"slimkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "pretrain",
        help="self-supervised pretraining on unlabelled sequences",
        formatter_class=_Formatter,
        description="Pretrain a SLiM encoder (masked feature modeling + global-local contrastive, "
        "no decoder). "
        "Checkpoints go to OUTPUT_DIR, and a run resumes from there when restarted; the final "
        "encoder is saved to OUTPUT_DIR/encoder.",
        epilog="examples:\n"
        "  slimkit pretrain train.npy --layout ntu25 --preset tiny -o runs/tiny --max-steps 50\n"
        "  slimkit pretrain ntu60.pkl --split xsub_train --preset base -o runs/ntu60 --epochs 150\n"
        "  torchrun --nproc-per-node 4 -m slimkit pretrain ntu60.pkl --split xsub_train -o runs/ddp\n",
    )
    p.add_argument("data", nargs="+",
                   help="training data files or folders (labels are not used); several sets of any layouts are "
                   "converted to the model's layout and pretrained on together")
    p.add_argument("--weights", type=float, nargs="+", default=None,
                   help="sampling weight of each data set (default: proportional to their sizes)")
    p.add_argument("--output-dir", "-o", required=True, help="folder for checkpoints and the final encoder")
    p.add_argument(
        "--preset",
        choices=["tiny", "small", "base"],
        default="base",
        help="model size: base is MAMP's encoder size (use a GPU); small and tiny suit a CPU",
    )
    p.add_argument("--config", help="config.json to use instead of a preset")
    p.add_argument("--resume-from", help="start from this pretrained encoder (folder or Hub id)")
    p.add_argument(
        "--in-channels",
        type=int,
        choices=[2, 3],
        help="values per joint the model reads: 2 for 2-D keypoints (x, y), also fed (x, y, score); 3 for "
        "(x, y, z). Default: read from the data (2 for 2-D data or 2-D layouts with scores, else 3)",
    )
    p.add_argument(
        "--normalize-scale",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale each sequence to unit RMS distance from its centre, as pixel coordinates need. "
        "Default: on for 2-D data (in_channels 2), off for 3-D",
    )
    p.add_argument("--split", help="named split of the data file to train on, e.g. xsub_train")
    p.add_argument(
        "--layout", help="joint layout of the data when the file does not say (ntu25, coco17, ...)"
    )
    p.add_argument("--input-format", help="axis order of a .npy array, e.g. NTVC for (N, T, V, C)")
    p.add_argument("--epochs", type=int, default=100, help="passes over the data (the schedule's horizon)")
    p.add_argument("--batch-size", type=int, default=64, help="global batch size (over all processes)")
    p.add_argument(
        "--lr", type=float, default=None, help="peak AdamW learning rate (default: the trainer's, 5e-4)"
    )
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimiser steps")
    p.add_argument("--device", default=None, help="cpu, cuda ... (default: CUDA when available)")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "bf16", "fp32"],
        help="auto: bf16 autocast on CUDA, fp32 on CPU",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, data order, views and masks")
    p.add_argument("--eval-split", help="labelled split of the data for a kNN monitor after each epoch")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _trust_pickle_option(p)
    p.set_defaults(func=_cmd_pretrain)

    p = sub.add_parser(
        "embed",
        help="embed sequences into an (N, D) .npy file",
        formatter_class=_Formatter,
        description="Embed every sequence of a data file with an encoder. Writes OUTPUT "
        "(.npy, float32 (N, D), "
        "L2-normalised) and OUTPUT with a .json suffix holding the ids (sequence names) and labels.",
        epilog="examples:\n"
        "  slimkit embed data/nw-ucla/all_sqe -m runs/ucla/encoder -o ucla.npy\n"
        "  slimkit embed poses.npy --input-format NTVC --layout coco17 -m runs/x/encoder -o poses_emb.npy\n"
        "  slimkit embed ntu60.pkl --split xsub_val -m org/slim-ntu60-base -o val.npy --device cuda\n"
        "  slimkit embed recordings/ -m runs/x/encoder --window 64 --stride 16 --fps 30 -o windows.npy\n",
    )
    p.add_argument("data", help="data file or folder")
    p.add_argument("--output", "-o", required=True, help="output .npy file")
    p.add_argument("--split", help="named split of the data file, e.g. xsub_val")
    p.add_argument("--no-normalize", action="store_true", help="do not L2-normalise the embeddings")
    p.add_argument(
        "--window", type=int, help="embed sliding windows of W frames of each (long) recording: one row per "
        "(id, start, end), listed in the .json sidecar"
    )
    p.add_argument("--stride", type=int, help="frames between window starts (default: W // 2)")
    p.add_argument("--fps", type=float, help="frame rate, to write window times in seconds")
    p.add_argument("--input-format", help="axis order of a .npy array, e.g. NTVC for (N, T, V, C)")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "bf16", "fp32"],
        help="auto: bf16 autocast on CUDA, fp32 on CPU",
    )
    _common(p)
    _trust_pickle_option(p)
    p.set_defaults(func=_cmd_embed)

    p = sub.add_parser(
        "index",
        help="build a saved retrieval index from embeddings",
        formatter_class=_Formatter,
        description="Put embeddings (from 'slimkit embed') into a Retriever and save it. Ids and labels come "
        "from the embeddings' .json sidecar unless --ids / --labels give them.",
        epilog="examples:\n"
        "  slimkit index ucla.npy -o ucla.slimidx\n"
        "  slimkit index gallery.npy --labels gallery_labels.txt --index hnsw -o gallery.slimidx\n",
    )
    p.add_argument("embeddings", help=".npy file of embeddings (N, D)")
    p.add_argument("--output", "-o", required=True, help="index file to write (e.g. gallery.slimidx)")
    p.add_argument("--ids", help="ids, one per line (.txt) or a .npy vector")
    p.add_argument("--labels", help="labels, one per line (.txt) or a .npy vector")
    p.add_argument(
        "--metric",
        default="cosine",
        choices=["cosine", "l2"],
        help="cosine similarity (higher is closer) or squared L2 distance (lower is closer)",
    )
    p.add_argument(
        "--index",
        default="flat",
        choices=["flat", "ivf", "hnsw"],
        help="flat: exact; ivf / hnsw: approximate, for large galleries",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (GPU indexes need faiss-gpu)")
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser(
        "search",
        help="find the nearest neighbours of query sequences",
        formatter_class=_Formatter,
        description="Search a saved index. Queries are embeddings (.npy from 'slimkit embed') or a data file "
        "embedded on the fly with --model. Prints the top-k hits; --output writes them as JSON.",
        epilog="examples:\n"
        "  slimkit search ucla.slimidx --queries ucla.npy --rows 0 1 2 -k 5\n"
        "  slimkit search ucla.slimidx --queries ucla.npy --ids a01_s01_e00_v01 --exclude-self -o hits.json\n"
        "  slimkit search ucla.slimidx --queries new_clips/ --layout kinect20 -m runs/ucla/encoder\n"
        "  slimkit search gallery.slimidx --queries q.npy -k 10 -o hits.json --quiet\n",
    )
    p.add_argument("index", help="index saved by 'slimkit index'")
    p.add_argument("--queries", required=True, help="query embeddings (.npy) or a data file (with --model)")
    p.add_argument("-k", type=int, default=5, help="neighbours per query")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--rows", type=int, nargs="+", help="only these query rows (0-based positions)")
    which.add_argument(
        "--ids", dest="query_ids", nargs="+", metavar="ID",
        help="only the queries with these ids (from the queries' sidecar, e.g. sequence names)",
    )
    p.add_argument(
        "--exclude-self",
        action="store_true",
        help="leave a query's own id out of its hits (when the queries are also in the index)",
    )
    p.add_argument("--output", "-o", help="write the results as JSON")
    p.add_argument(
        "--iou-threshold", type=float, default=0.0,
        help="moment indexes: drop a window overlapping a better moment of the same recording by more than "
        "this temporal IoU",
    )
    p.add_argument("--model", "-m", help="encoder for queries given as data")
    p.add_argument("--layout", help="joint layout of query data when the file does not say")
    p.add_argument("--input-format", help="axis order of a .npy array of queries, e.g. NTVC")
    p.add_argument("--batch-size", type=int, default=64, help="sequences per forward pass")
    p.add_argument("--device", default=None, help="torch device for --model (default: CUDA when available)")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "bf16", "fp32"],
        help="auto: bf16 autocast on CUDA, fp32 on CPU",
    )
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bars; no printout when -o is given"
    )
    _trust_pickle_option(p)
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser(
        "evaluate",
        help="kNN retrieval accuracy and linear probe of an encoder",
        formatter_class=_Formatter,
        description="Evaluate a frozen encoder on labelled data: kNN top-1 (cosine, train sequences as the "
        "gallery, test sequences as queries) and, with --linear-probe, a linear classifier on the "
        "embeddings. The protocol is printed with every number.",
        epilog="examples:\n"
        "  slimkit evaluate train.npz --test test.npz -m runs/x/encoder --linear-probe\n"
        "  slimkit evaluate ntu60.pkl --train-split xsub_train --test-split xsub_val -m org/slim-ntu60-base\n"
        "  slimkit evaluate penn/labels -m runs/penn/encoder -k 1 5 -o penn_eval.json\n"
        "  slimkit embed nw-ucla/all_sqe -m slimkit/slim-kinect-tiny -o ucla.npy && slimkit evaluate ucla.npy\n"
        "\nWithout --test or --train-split/--test-split, the data's own split is used (train/test, xsub_train/"
        "xsub_val, ...).\n",
    )
    p.add_argument(
        "train",
        help="labelled training data (the kNN gallery), or embeddings .npy written by 'slimkit embed'; also "
        "the test data when --test is not given",
    )
    p.add_argument("--test", help="labelled test data (default: TRAIN with --test-split)")
    p.add_argument("--train-split", help="named split of TRAIN, e.g. xsub_train")
    p.add_argument("--test-split", help="named split of the test data, e.g. xsub_val")
    p.add_argument(
        "-k", type=int, nargs="+", default=[1], metavar="K", help="neighbour counts for kNN (default: 1)"
    )
    p.add_argument(
        "--linear-probe",
        action="store_true",
        help="also train and test a linear probe (MAMP's recipe: costs one encoder pass per epoch)",
    )
    p.add_argument("--probe-epochs", type=int, default=100, help="linear probe epochs")
    p.add_argument(
        "--save-classifier", metavar="DIR",
        help="with --linear-probe: save encoder + probe head + class names as a classifier folder for "
        "'slimkit predict' (its card states the data, protocol and accuracy)",
    )
    p.add_argument(
        "--output", "-o",
        help="write the results as JSON (top-1, top-5, mean per-class accuracy, per-class accuracy and the "
        "confusion matrix of each evaluation), with one confusion-matrix PNG per evaluation beside it",
    )
    p.add_argument("--no-plots", action="store_true", help="with --output, write no confusion-matrix PNGs")
    _common(p, model_required=False)
    _trust_pickle_option(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "predict",
        help="classify sequences with a saved classifier",
        formatter_class=_Formatter,
        description="Predict the class of every sequence with a classifier folder (saved by "
        "'slimkit evaluate --linear-probe --save-classifier' or SLiMClassifier.save_pretrained). Prints "
        "id, predicted class and its probability per line; --output writes .json (with the top-k "
        "classes) or .csv. When the data carry labels, the accuracy is printed too.",
        epilog="examples:\n"
        "  slimkit predict data/nw-ucla/all_sqe --split test -m ucla-classifier\n"
        "  slimkit predict clips/ --layout kinect20 -m ucla-classifier --top-k 3 -o predictions.json\n",
    )
    p.add_argument("data", help="data file or folder")
    p.add_argument("--split", help="named split of the data file, e.g. test")
    p.add_argument("--top-k", type=int, default=1, help="also list the next most probable classes")
    _trust_pickle_option(p)
    p.add_argument("--output", "-o", help="write the predictions (.json or .csv)")
    p.add_argument("--input-format", help="axis order of a .npy array, e.g. NTVC for (N, T, V, C)")
    p.add_argument(
        "--model", "-m", required=True, help="classifier folder or Hub repo id (SLiMClassifier.save_pretrained)"
    )
    p.add_argument(
        "--layout", help="joint layout of the data when the file does not say (ntu25, coco17, ...)"
    )
    p.add_argument("--batch-size", type=int, default=64, help="sequences per forward pass")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    p.add_argument("--quiet", "-q", action="store_true", help="no printout when -o is given")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "models",
        help="list the pretrained encoders available offline (shipped and cached)",
        formatter_class=_Formatter,
        description="List the encoders that 'from_pretrained' and '--model' load without a network: those "
        "shipped inside the package, then slimkit models in the Hugging Face cache, with the layout, input "
        "channels, frames, width and training data of each.",
        epilog="examples:\n"
        "  slimkit models\n"
        "  slimkit models ucla -v\n"
        "  slimkit models 'slimkit/*' --json\n",
    )
    p.add_argument("filter", nargs="?", help="wildcard pattern or substring of the name, layout or data")
    p.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    p.add_argument("--verbose", "-v", action="store_true", help="also print each model card's results")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser(
        "plot-metrics",
        help="draw a pretraining run's loss and kNN monitor curves to a PNG",
        formatter_class=_Formatter,
        description="Read RUN_DIR/metrics.jsonl (written by 'slimkit pretrain') and draw one panel per "
        "metric: loss, its MFM and GLCL terms, the kNN monitor, the learning rate.",
        epilog="examples:\n"
        "  slimkit plot-metrics runs/x\n"
        "  slimkit plot-metrics runs/x -o loss.png --keys loss knn_top1\n",
    )
    p.add_argument("run_dir", help="the run's output folder (or its metrics.jsonl)")
    p.add_argument("--output", "-o", help="image to write (default: RUN_DIR/metrics.png)")
    p.add_argument("--keys", nargs="+", help="metrics to draw (default: all but epoch, momentum, samples/s)")
    p.set_defaults(func=_cmd_plot_metrics)
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
