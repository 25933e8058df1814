"""The plain files the commands exchange: ``(N, D)`` embeddings ``.npy`` with a ``.json`` sidecar of ids, labels and
class names (written both or neither), id and label lists, and JSON or CSV results, each written atomically."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from slimkit._utils import atomic_path, atomic_write_text

from ._common import plain


def sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def write_pair(path: Path, emb: Any, info: dict[str, Any]) -> None:
    """Write ``emb`` to ``path`` (.npy) and ``info`` to its ``.json`` sidecar, both or neither.

    Both are written to temporary files first and renamed into place only when both are complete (the ``.npy``
    first), so a failure leaves either the previous pair or nothing, never a ``.npy`` without its sidecar.
    """
    text = json.dumps(info, indent=1)  # fails (e.g. a value JSON cannot hold) before anything is written
    with atomic_path(sidecar(path)) as side_tmp, atomic_path(path, ".npy") as npy_tmp:
        with open(npy_tmp, "wb") as f:
            np.save(f, emb, allow_pickle=False)
        side_tmp.write_text(text, encoding="utf-8")


def write_embeddings(path: Path, emb: Any, ds: Any, meta: dict[str, Any], ids: list[Any] | None = None,
                     labels: Any = None, **after: Any) -> None:
    """Save ``(N, D)`` embeddings and, beside them, a ``.json`` with ``meta``, the ids, labels and class names (the
    data set's unless ``ids`` / ``labels`` are given), then ``after``; see ``write_pair``."""
    info = {
        **meta,
        "shape": list(emb.shape),
        "layout": ds.layout,
        "ids": plain(ds.names) if ids is None else ids,
        "labels": plain(ds.labels if labels is None else labels),
        "classes": ds.classes,
        **after,
    }
    write_pair(path, emb, info)


def _plain_npy(path: str, name: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OverflowError, OSError) as e:
        raise ValueError(f"{name}: {path} is not a plain numeric .npy file ({e})") from None


def _check_file(path: str, name: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name}: {path}: no such file")
    return p


def read_embeddings(path: str, name: str = "embeddings") -> tuple[Any, dict[str, Any]]:
    """``(N, D)`` float32 embeddings from a ``.npy`` file, and its sidecar's content (``{}`` if none)."""
    p = _check_file(path, name)
    if p.suffix != ".npy":
        raise ValueError(
            f"{name}: expected a .npy file of embeddings (N, D) as written by 'slimkit embed', got {path}"
        )
    emb = _plain_npy(path, name)
    if emb.ndim != 2 or not np.issubdtype(emb.dtype, np.floating):
        raise ValueError(
            f"{name}: expected a float array of shape (N, D) in {path}, got {emb.dtype} "
            f"{emb.shape}; embed skeleton data first with 'slimkit embed'"
        )
    side = sidecar(p)
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


def read_list(path: str | None, n: int, name: str) -> list[Any] | None:
    """Labels or ids, one per line (``.txt``) or a ``.npy`` vector; must hold ``n`` entries."""
    if path is None:
        return None
    p = _check_file(path, name)
    if p.suffix == ".npy":
        arr = _plain_npy(path, name)
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


def write_output(path: str | Path, text: str, what: str) -> None:
    """Write a command's ``--output`` atomically and say so on stderr (stdout keeps the results)."""
    atomic_write_text(path, text)
    print(f"wrote {what} to {path}", file=sys.stderr)


def write_json_output(path: str | Path, results: Any, what: str) -> None:
    write_output(path, json.dumps(results, indent=1), what)
