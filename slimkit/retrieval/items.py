"""Checks of what goes into a [`Retriever`][slimkit.retrieval.Retriever]: vectors (finite, of the index's width,
unit rows for cosine) and per-item values (ids, labels: all int or all str)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_INT64_MAX = 2**63 - 1
_L2_MAX_ABS = 1e18  # |x| above this: squared L2 distances overflow float32 (3.4e38)


def _as_vectors(x: Any, name: str, dim: int) -> np.ndarray:
    """``(N, dim)`` (or ``(dim,)``) numeric input -> C-contiguous float32 ``(N, dim)``, finite, N >= 1."""
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    a = np.asarray(x)
    if (
        a.dtype == object
        or a.dtype == np.bool_
        or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer))
    ):
        raise TypeError(f"{name}: expected a real-valued numeric array, got dtype {a.dtype}")
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != dim:
        raise ValueError(f"{name}: expected shape (N, {dim}) (or ({dim},) for one vector), got {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one vector, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.floating):
        finite = np.isfinite(a).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(f"{name}: rows {bad[:5].tolist()} contain NaN or inf ({bad.size} rows in all)")
    return a


def _as_float32(a: np.ndarray, name: str, metric: str) -> np.ndarray:
    """Vectors as stored: unit float32 rows for cosine (normalised in float64), float32 rows for l2."""
    if metric == "cosine":
        return _normalize(a, name)
    big = np.abs(a.astype(np.float64, copy=False)).max(axis=1) > _L2_MAX_ABS
    if big.any():
        raise ValueError(
            f"{name}: rows {np.flatnonzero(big)[:5].tolist()} hold values beyond {_L2_MAX_ABS:g}; with "
            "metric='l2' their squared distances would overflow float32 (scale them, or use metric='cosine')"
        )
    return np.ascontiguousarray(a, dtype=np.float32)


def _normalize(a: np.ndarray, name: str) -> np.ndarray:
    """L2-normalise rows in float64 after scaling each by its largest magnitude (no overflow, no underflow)."""
    x = a.astype(np.float64, copy=True)
    scale = np.abs(x).max(axis=1, keepdims=True)
    zero = scale[:, 0] == 0
    if zero.any():
        raise ValueError(
            f"{name}: rows {np.flatnonzero(zero)[:5].tolist()} have zero norm; metric='cosine' "
            "needs non-zero vectors"
        )
    x /= scale
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def _item_list(values: Any, name: str, n: int) -> list[Any]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name}: expected a sequence of {n} values, got {type(values).__name__}")
    if len(values) != n:
        raise ValueError(f"{name}: expected {n} values (one per embedding row), got {len(values)}")
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _kind_of(v: Any, name: str) -> str:
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name}: expected int or str values, got bool {v!r}")
    if isinstance(v, (int, np.integer)):
        return "int"
    if isinstance(v, str):
        return "str"
    raise TypeError(f"{name}: expected int or str values, got {type(v).__name__} ({v!r})")



def _one_kind(values: Any, name: str, n: int, held: str | None, what: str) -> tuple[list[Any], str]:
    """``n`` values, all int or all str, of the kind ``held`` the Retriever already holds (``what``: "ids" or
    "labels", for the messages); ints come back as Python ints."""
    vals = _item_list(values, name, n)
    kinds = {_kind_of(v, name) for v in vals}
    if len(kinds) > 1:
        raise TypeError(f"{name}: expected all int or all str, got a mix of int and str")
    kind = kinds.pop()
    if held is not None and kind != held:
        raise TypeError(f"{name}: this Retriever holds {held} {what}, got {kind} {what}")
    if kind == "int":
        vals = [int(v) for v in vals]
    return vals, kind
