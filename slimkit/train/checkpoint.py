"""Pretraining checkpoints: write one atomically, list them, find the newest intact one, load one back.

A checkpoint is a folder ``output_dir/checkpoint-{step}/`` (written to a hidden temporary sibling and renamed,
so a kill never leaves a half-written ``checkpoint-{step}``) holding

* ``config.json`` + ``model.safetensors``: the student encoder (the folder loads with
  ``SLiMEncoder.from_pretrained``);
* ``heads.safetensors`` (MFM head, projector, predictor) and ``teacher.safetensors``;
* ``training_state.pt``: optimizer, scheduler and RNG states (loads with ``torch.load(weights_only=True)``);
* ``trainer_state.json``: step, epoch, position in the epoch, config, arguments, last metrics;
* ``checksums.json``: size and SHA-256 of every file above, checked before resuming.
"""

from __future__ import annotations

import json
import logging
import pickle
import random
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from .._integrity import CHECKSUMS_NAME, verify_checksums, write_checksums
from .._utils import atomic_dir
from ..config import SLiMConfig
from ..hub import load_state_strict, save_weights
from .step import EMATeacher, SLiMPretrainModel

__all__ = [
    "CHECKPOINT_FILES",
    "list_checkpoints",
    "newest_intact",
    "remove_stale",
    "save_checkpoint",
    "load_checkpoint",
    "check_same_run",
]

logger = logging.getLogger("slimkit")

CHECKPOINT_FILES = (
    "config.json",
    "model.safetensors",
    "heads.safetensors",
    "teacher.safetensors",
    "training_state.pt",
    "trainer_state.json",
)
_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")
FORMAT = 2  # 2: checksums.json covers every file


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints in ``output_dir`` (every file present), oldest first."""
    out = Path(output_dir)
    if not out.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := _CKPT_RE.match(p.name))]
    return [p for _, p in sorted(found) if all((p / f).is_file() for f in CHECKPOINT_FILES)]


def remove_stale(output_dir: str | Path) -> None:
    """Remove the temporary folders of saves cut by a kill (``.checkpoint-*.tmp-*``, and an older slimkit's
    ``checkpoint-*.tmp``)."""
    out = Path(output_dir)
    if out.is_dir():
        for stale in [*out.glob(".checkpoint-*.tmp-*"), *out.glob("checkpoint-*.tmp")]:
            shutil.rmtree(stale, ignore_errors=True)


def newest_intact(ckpts: list[Path]) -> Path | None:
    """The newest checkpoint whose files match the checksums written at save time; warns for each skipped one.

    Checkpoints of an older slimkit (no ``checksums.json``) are taken as they are.

    Raises:
        ValueError: Every checkpoint is damaged (the message names each and why).
    """
    skipped = []
    for path in reversed(ckpts):
        if not (path / CHECKSUMS_NAME).is_file() and not _has_checksums_format(path):
            return path
        try:
            verify_checksums(path)
        except ValueError as e:
            warnings.warn(f"skipping checkpoint {path}: {e}", stacklevel=4)
            skipped.append(f"{path.name} ({e})")
            continue
        return path
    if skipped:
        raise ValueError(
            f"no intact checkpoint to resume from: {'; '.join(skipped)}. Move the folders away to start over"
        )
    return None


def save_checkpoint(
    output_dir: str | Path,
    step: int,
    model: SLiMPretrainModel,
    teacher: EMATeacher,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    trainer_state: dict[str, Any],
    keep: int | None = None,
) -> Path:
    """Write ``output_dir/checkpoint-{step}`` atomically, then keep only the newest ``keep`` checkpoints.

    Args:
        output_dir: The run folder.
        step: Optimizer steps done (the folder's number).
        model: The student with its heads.
        teacher: The EMA teacher.
        optimizer: Its state is saved.
        scheduler: Its state is saved.
        trainer_state: What ``trainer_state.json`` records besides ``global_step``, the config and the format
            (epoch, position in the epoch, arguments, last metrics...).
        keep: Checkpoints kept (the newest); ``None`` keeps all.

    Returns:
        The checkpoint folder.
    """
    final = Path(output_dir) / f"checkpoint-{step}"
    config = model.encoder.config.to_dict()
    with atomic_dir(final) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
        save_weights(model.encoder, tmp / "model.safetensors")
        save_weights(model.heads(), tmp / "heads.safetensors")
        save_weights(teacher, tmp / "teacher.safetensors")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), **_rng_state()},
                   tmp / "training_state.pt")
        info = {"global_step": step, **trainer_state, "config": config, "format": FORMAT}
        (tmp / "trainer_state.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        write_checksums(tmp, CHECKPOINT_FILES)  # last: resuming verifies every file against it
    if keep is not None:
        for old in list_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    logger.info("saved %s", final)
    return final


def read_trainer_state(path: Path) -> dict[str, Any]:
    """``trainer_state.json`` of a checkpoint (a ValueError naming the file when it does not parse)."""
    return _read(path / "trainer_state.json", lambda f: json.loads(f.read_text("utf-8")))


def check_same_run(path: Path, info: dict[str, Any], config: SLiMConfig, args: dict[str, Any]) -> None:
    """Refuse to resume from checkpoint ``path`` (its ``trainer_state`` ``info``) with another config or other
    schedule arguments: the result would silently mix two runs (keys an older checkpoint did not record are
    not compared)."""
    mine = config.to_dict()
    if info["config"] != mine:
        diff = sorted(k for k in info["config"] if info["config"][k] != mine.get(k))
        raise ValueError(
            f"{path}: checkpoint config differs from this trainer's config in {diff}; use "
            "another output_dir or the same config"
        )
    saved = info["args"]
    differ = [f"{k}={saved[k]!r} (now {args[k]!r})" for k in args if k in saved and saved[k] != args[k]]
    if differ:
        raise ValueError(
            f"{path}: checkpoint was trained with other arguments: {', '.join(differ)}; resuming would "
            "not continue the same run. Use the same arguments, or another output_dir to start a new run"
        )


def load_checkpoint(
    path: Path,
    model: SLiMPretrainModel,
    teacher: EMATeacher,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> None:
    """Load weights, optimizer, scheduler and the global RNG states of checkpoint ``path`` in place (strictly:
    a missing, unexpected or mis-shaped tensor is a ValueError naming the file)."""
    dev = next(model.parameters()).device

    def tensors(name: str) -> dict[str, torch.Tensor]:
        return _read(path / name, lambda f: load_file(str(f), device=str(dev)))

    load_state_strict(model.encoder, tensors("model.safetensors"), str(path))
    load_state_strict(model.heads(), tensors("heads.safetensors"), f"{path}/heads.safetensors")
    load_state_strict(teacher, tensors("teacher.safetensors"), str(path))
    state = _read(path / "training_state.pt", lambda f: torch.load(f, map_location=dev, weights_only=True))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state)


def _rng_state() -> dict[str, Any]:
    """torch, CUDA, numpy and Python RNG states in a form ``torch.load(weights_only=True)`` reads."""
    np_state = np.random.get_state()
    return {
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy_rng": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python_rng": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch_rng"].cpu())
    cuda = state["cuda_rng"]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
    n = state["numpy_rng"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    py = state["python_rng"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def _read(path: Path, read: Callable[[Path], Any]) -> Any:
    """``read(path)``, with any failure to parse the file reported as a ValueError naming it."""
    try:
        return read(path)
    except (OSError, ValueError, RuntimeError, EOFError, RecursionError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: unreadable checkpoint file ({type(e).__name__}: {e})") from None
    except Exception as e:  # safetensors raises its own SafetensorError
        if type(e).__name__ != "SafetensorError":
            raise
        raise ValueError(f"{path}: unreadable checkpoint file ({e})") from None


def _has_checksums_format(path: Path) -> bool:
    """Whether a checkpoint without ``checksums.json`` was written by a slimkit that writes one (format >= 2)."""
    try:
        return int(json.loads((path / "trainer_state.json").read_text(encoding="utf-8")).get("format", 1)) >= 2
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        return True  # unreadable: treat as corrupt, verify_checksums says why
