"""CTR-GCN / MAMP ``.npz`` files: rows ``(T, M*V*C)`` with one-hot labels, memory-mapped when stored
uncompressed and checked by [`slimkit._npz`](https://github.com/slimkit/slimkit/blob/main/slimkit/_npz.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._arrays import mark_missing
from .._errors import names_file
from .._npz import npz_keys, npz_member
from ..layouts import Layout, get_layout
from ._common import PathLike, _Concat, _Lazy, _path, _trim_trailing
from .dataset import SkeletonDataset

__all__ = ["read_npz"]


class _NpzRows:
    def __init__(self, path: Path, key: str, m: int, v: int, c: int) -> None:
        self.path, self.key, self.m, self.v, self.c = path, key, m, v, c
        self._x: np.ndarray | None = None

    @property
    def x(self) -> np.ndarray:
        if self._x is None:
            self._x = npz_member(self.path, self.key)
        return self._x

    def __getstate__(self) -> dict[str, Any]:
        # A memory map would be pickled with its whole content (DataLoader workers under "spawn"): reopen it.
        return {**self.__dict__, "_x": None}

    def __call__(self, i: int) -> np.ndarray:
        row = np.array(self.x[i], dtype=np.float32)  # (T, M*V*C)
        a = row.reshape(row.shape[0], self.m, self.v, self.c).transpose(1, 0, 2, 3)
        return _trim_trailing(mark_missing(np.ascontiguousarray(a)))


@names_file(".npz")
def read_npz(
    path: PathLike, layout: str | Layout | None = None, num_persons: int = 2, channels: int = 3
) -> SkeletonDataset:
    """Read a CTR-GCN / MAMP ``.npz``: ``x_train``, ``y_train``, ``x_test``, ``y_test``.

    Rows ``(T, M*V*C)`` (``(N, 300, 150)`` for NTU: 2 persons x 25 joints x 3) become ``(M, T, V, C)``;
    the zero padding after the last valid frame is cut off, a person's all-zero frames (the absent second
    actor) and all-zero joints are ``NaN``. Caveat: these files are centred on actor 1's spine-mid joint in
    the first frame, which is therefore exactly 0 there and reads as missing (one joint, one frame).
    Labels are the argmax of the one-hot ``y_*``; splits ``train`` and ``test``; names ``train_00000``...
    Uncompressed files are memory-mapped and rows are converted on access, so a 7 GB file costs no RAM; each
    array's size is checked against its header and its zip CRC-32 is verified once when the file is opened
    (streamed: about 2 GB/s from the page cache, measured). Compressed arrays are read into memory, and one
    that would inflate above 64 MiB at more than 200:1 is refused.

    Args:
        path: The ``.npz`` file.
        layout: Layout of the joints; default ``ntu25``.
        num_persons: Persons per row (``M``).
        channels: Coordinates per joint (``C``).

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset].
    """
    p = _path(path)
    lay = get_layout(layout or "ntu25")
    keys = npz_keys(p)
    parts = [s for s in ("train", "test") if f"x_{s}" in keys]
    if not parts:
        raise ValueError(
            f"{p}: expected arrays x_train / x_test (and y_train / y_test), found {sorted(keys)}"
        )
    sources: list[Sequence[Any]] = []
    labels, names, split = [], [], {}
    start = 0
    for s in parts:
        x = npz_member(p, f"x_{s}")
        if x.ndim != 3 or x.shape[2] != num_persons * lay.num_joints * channels:
            raise ValueError(
                f"{p}: x_{s}: expected shape (N, T, {num_persons * lay.num_joints * channels}) for "
                f"{num_persons} persons x {lay.num_joints} joints ({lay.name}) x {channels}, got {x.shape}"
            )
        n = x.shape[0]
        if f"y_{s}" in keys:
            y = np.asarray(npz_member(p, f"y_{s}", mmap=False))
            if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
                raise ValueError(f"{p}: y_{s}: expected numeric labels, got dtype {y.dtype}")
            y = y.argmax(-1) if y.ndim == 2 and y.shape[1] > 0 else y
            if y.shape != (n,):
                raise ValueError(f"{p}: y_{s}: expected {n} labels (one-hot or ints), got shape {y.shape}")
        else:
            y = np.full(n, -1)
        rows = _NpzRows(p, f"x_{s}", num_persons, lay.num_joints, channels)
        rows._x = x
        sources.append(_Lazy(n, rows))
        labels.append(y.astype(np.int64))
        names += [f"{s}_{i:05d}" for i in range(n)]
        split[s] = list(range(start, start + n))
        start += n
    seqs = sources[0] if len(sources) == 1 else _Concat(sources)
    return SkeletonDataset(seqs, np.concatenate(labels), names, lay, split)

