"""Integrity helpers: finite weights, file checksums, and file modes that respect the umask.

Kept apart from the modules that use them (hub, trainer, retrieval, cli) so that each check is written once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "check_finite_state",
    "sha256_file",
    "write_checksums",
    "verify_checksums",
    "CHECKSUMS_NAME",
    "umask_mode",
    "apply_umask",
]

CHECKSUMS_NAME = "checksums.json"


def check_finite_state(state: Mapping[str, Any], source: str) -> None:
    """Refuse a state dict holding NaN or inf in a floating-point tensor, naming the tensors.

    Args:
        state: Tensor name -> tensor.
        source: The file, for the message.

    Raises:
        ValueError: Some tensors are not finite.
    """
    import torch

    bad = [
        k
        for k, v in state.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        raise ValueError(
            f"{source}: {len(bad)} tensors hold NaN or inf, e.g. {bad[:5]}; the weights are corrupted or "
            "diverged and would give non-finite embeddings"
        )


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_checksums(folder: Path, names: Iterable[str]) -> None:
    """Write ``checksums.json`` (name -> size and SHA-256) for files of ``folder``."""
    table = {n: {"size": (folder / n).stat().st_size, "sha256": sha256_file(folder / n)} for n in names}
    (folder / CHECKSUMS_NAME).write_text(json.dumps({"format": 1, "files": table}, indent=1), encoding="utf-8")


def verify_checksums(folder: Path) -> None:
    """Check every file listed in ``folder/checksums.json``.

    Raises:
        ValueError: The table is missing or unreadable, or a file is missing, of another size or another
            SHA-256 (the message names the file).
    """
    table_path = folder / CHECKSUMS_NAME
    try:
        table = json.loads(table_path.read_text(encoding="utf-8"))["files"]
        items = [(str(n), int(e["size"]), str(e["sha256"])) for n, e in table.items()]
    except FileNotFoundError:
        raise ValueError(f"{table_path}: missing (written last at save: the checkpoint is incomplete)") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise ValueError(f"{table_path}: unreadable ({type(e).__name__}: {e})") from None
    for name, size, sha in items:
        f = folder / name
        if not f.is_file():
            raise ValueError(f"{f}: missing")
        if f.stat().st_size != size:
            raise ValueError(f"{f}: truncated or padded: {f.stat().st_size} bytes, {size} when saved")
        if sha256_file(f) != sha:
            raise ValueError(f"{f}: corrupted: its SHA-256 differs from the one written at save time")


def umask_mode(directory: bool = False) -> int:
    """The mode ``open()`` / ``mkdir()`` would give a new file (0o666) or folder (0o777) under the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def apply_umask(path: Path) -> None:
    """Give a file made by ``mkstemp`` / ``mkdtemp`` (0600 / 0700) the mode ``open()`` would have given it."""
    os.chmod(path, umask_mode(Path(path).is_dir()))
