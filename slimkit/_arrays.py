"""Array primitives of the input pipeline, written once: what "missing" means, padding persons and time, and
NaN-aware linear interpolation between frames (numpy and torch alike).

This module imports no other slimkit module, so the lowest layers (layouts) can use it; the public names are
re-exported by [`slimkit.preprocessing`][slimkit.preprocessing], which composes them into the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["missing_joints", "mark_missing", "pad_persons", "pad_time", "nan_lerp"]


def missing_joints(x: Any) -> Any:
    """``(..., V)`` bool: joints of ``x (..., V, C)`` that are non-finite or exactly all-zero (numpy or torch)."""
    if isinstance(x, np.ndarray):
        return ~np.isfinite(x).all(-1) | (x == 0).all(-1)
    import torch

    return ~torch.isfinite(x).all(-1) | (x == 0).all(-1)


def mark_missing(a: np.ndarray) -> np.ndarray:
    """Set the missing joints of float ``a (..., V, C)`` to ``NaN``, in place; returns ``a``."""
    a[missing_joints(a)] = np.nan
    return a


def pad_persons(seq: np.ndarray, max_persons: int) -> np.ndarray:
    """``(M, T, V, C)`` -> ``(max_persons, T, V, C)``: extra persons cut, absent ones padded with ``NaN``."""
    m = seq.shape[0]
    if m >= max_persons:
        return seq[:max_persons]
    pad = np.full((max_persons - m,) + seq.shape[1:], np.nan, dtype=seq.dtype)
    return np.concatenate([seq, pad])


def pad_time(seqs: Sequence[Any], pad_value: float = float("nan")) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``(M_i, T_i, V, C)`` sequences into float32 ``(N, max M_i, max T_i, V, C)``, padding persons and
    frames at the end with ``pad_value``; also returns the int64 ``(N,)`` frame counts before padding."""
    if len(seqs) == 0:
        raise ValueError("seqs: expected at least one sequence, got none")
    arrays = [np.asarray(s) for s in seqs]
    m = max(s.shape[0] for s in arrays)
    t = max(s.shape[1] for s in arrays)
    out = np.full((len(arrays), m, t) + arrays[0].shape[2:], pad_value, dtype=np.float32)
    for i, s in enumerate(arrays):
        out[i, : s.shape[0], : s.shape[1]] = s
    return out, np.array([s.shape[1] for s in arrays], dtype=np.int64)


def nan_lerp(a: Any, b: Any, w: Any) -> Any:
    """``(1 - w) * a + w * b`` joint by joint where both ends are finite; where one is, that one; else ``NaN``.

    ``a`` and ``b`` are ``(..., C)`` frames (numpy or torch) and ``w`` broadcasts against them.
    """
    if isinstance(a, np.ndarray):
        fa, fb = np.isfinite(a).all(-1, keepdims=True), np.isfinite(b).all(-1, keepdims=True)
        both = (1 - w) * np.nan_to_num(a) + w * np.nan_to_num(b)
        return np.where(fa & fb, both, np.where(fa, a, b))
    import torch

    fa, fb = torch.isfinite(a).all(-1, keepdim=True), torch.isfinite(b).all(-1, keepdim=True)
    both = (1 - w) * torch.nan_to_num(a) + w * torch.nan_to_num(b)
    return torch.where(fa & fb, both, torch.where(fa, a, b))
