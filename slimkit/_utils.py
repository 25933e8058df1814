"""Helpers every layer of slimkit uses: atomic writes, argument checks, the default device, distributed state and
the warm-up + cosine schedule. Each is written once here; nothing here imports another slimkit module except
``_integrity`` (file modes), so any module may import it without creating a cycle.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_path",
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_positive_int",
    "check_number",
    "default_device",
    "is_distributed",
    "rank",
    "world_size",
    "warmup_cosine",
]


# ---- atomic writes ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; on success move it onto ``path`` in one ``os.replace``.

    Readers see the old file or the complete new one, never a partial write. On an exception the temporary file
    is removed and ``path`` is untouched. The file gets the mode ``open()`` would give it (the umask's), not
    ``mkstemp``'s 0600. ``suffix`` is kept at the end of the temporary name for writers that choose a format by
    extension (matplotlib, torch.export).
    """
    from ._integrity import apply_umask

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # a writer that removed the file fails here instead of writing nothing
            os.fsync(f.fileno())
        apply_umask(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` (an existing folder is removed
    first). On an exception the temporary folder is removed and ``path`` is untouched."""
    from ._integrity import apply_umask

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        apply_umask(tmp)  # mkdtemp made it 0700, and it becomes the folder itself
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, chunks: bytes | Iterable[bytes]) -> Path:
    """Write ``chunks`` (bytes, or an iterable of bytes) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for c in [chunks] if isinstance(chunks, (bytes, bytearray, memoryview)) else chunks:
            f.write(c)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


# ---- argument checks ----------------------------------------------------------------------------------------
def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; a bool, a float or a smaller int raises ``ValueError`` naming ``name``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < minimum:
        what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    return int(value)


def check_number(value: Any, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """``value`` as a float in ``[lo, hi]`` (NaN and bools refused), or ``ValueError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not lo <= value <= hi:
        raise ValueError(f"{name}: expected a number in [{lo}, {hi}], got {value!r}")
    return float(value)


# ---- device and distributed state ---------------------------------------------------------------------------
def default_device(device: Any = None) -> Any:
    """``torch.device(device)``, or when ``device`` is None: this process's GPU if CUDA is available
    (``LOCAL_RANK`` under torchrun), else the CPU."""
    import torch

    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def is_distributed() -> bool:
    """True inside an initialised ``torch.distributed`` process group."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    import torch.distributed as dist

    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 outside a process group)."""
    import torch.distributed as dist

    return dist.get_world_size() if is_distributed() else 1


# ---- schedules ----------------------------------------------------------------------------------------------
def warmup_cosine(step: int, total: int, warmup: int, peak: float, floor: float = 0.0,
                  warmup_start: int = 0) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then a half-cycle cosine to ``floor`` at ``total``.

    During warm-up the value is ``peak * (step + warmup_start) / (warmup + warmup_start)``: ``warmup_start=0``
    is MAE's ``lr_sched`` (starts at 0), ``1`` never gives a zero first step. After ``total`` it stays at
    ``floor``.
    """
    if step < warmup:
        return peak * (step + warmup_start) / (warmup + warmup_start)
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
