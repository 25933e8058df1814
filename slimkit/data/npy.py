"""Plain ``.npy`` arrays: one sequence, a batch in any axis order (memory-mapped, read on access), or a folder
with one sequence per file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._arrays import mark_missing
from .._errors import names_file
from ..layouts import Layout
from ..preprocessing import SequenceSource
from ._common import PathLike, _Lazy, _list_files, _path, _resolve_layout, _trim_trailing
from .dataset import SkeletonDataset

__all__ = ["read_npy"]


class _NpyRows:
    def __init__(self, path: Path, input_format: str) -> None:
        self.path, self.input_format = path, input_format
        self._source: Any = None

    @property
    def source(self) -> Any:
        if self._source is None:
            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
            self._source = SequenceSource(arr, self.input_format, name=str(self.path))
        return self._source

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_source": None}  # reopen the memory map instead of pickling its content

    def __call__(self, i: int) -> np.ndarray:
        a = np.array(self.source.batch(i, i + 1)[0], dtype=np.float32)
        return _trim_trailing(mark_missing(a))


class _NpyFile:
    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def __call__(self, i: int) -> np.ndarray:
        return _read_npy_file(self.files[i])


@names_file(".npy")
def _read_npy_file(f: Path) -> np.ndarray:
    a = np.array(np.load(f, allow_pickle=False), dtype=np.float32)
    if a.ndim not in (3, 4):
        raise ValueError(f"{f}: expected one sequence (T, V, C) or (M, T, V, C), got shape {a.shape}")
    return mark_missing(a[None] if a.ndim == 3 else a)


@names_file(".npy")
def read_npy(
    path: PathLike,
    layout: str | Layout | None = None,
    input_format: str = "auto",
    labels: Sequence[int] | np.ndarray | None = None,
) -> SkeletonDataset:
    """Read a plain ``.npy`` array, or a folder of ``.npy`` files holding one sequence each.

    An array ``(T, V, C)`` or ``(M, T, V, C)`` is one sequence, ``(N, M, T, V, C)`` a batch; name other axis
    orders with ``input_format`` (e.g. ``"NCTVM"`` for the 2s-AGCN / CTR-GCN ``*_data_joint.npy``, or
    ``"NTVC"`` for single-person batches). All-zero joints are ``NaN`` and trailing all-missing frames are
    cut off. The file is memory-mapped: sequences are read on access. In a folder, each file is one sequence
    named after the file, with label -1.

    Args:
        path: A ``.npy`` file or a folder of them.
        layout: Layout of the joints; required when ``V`` alone does not tell it (e.g. 17 joints in 3-D).
        input_format: ``"auto"`` or an axis order over ``NMTVC`` (see
            [`slimkit.preprocessing.SequenceSource`][slimkit.preprocessing.SequenceSource]).
        labels: One label per sequence.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset].
    """
    p = _path(path)
    if p.is_dir():
        files = _list_files(p, ".npy")
        try:
            first = np.load(files[0], mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError, OverflowError, OSError) as e:
            raise ValueError(f"{files[0]}: not a plain numeric .npy ({e})") from None
        if first.ndim not in (3, 4):
            raise ValueError(
                f"{files[0]}: expected one sequence (T, V, C) or (M, T, V, C), got {first.shape}"
            )
        lay = _resolve_layout(layout, first.shape[-2], first.shape[-1], str(files[0]))
        return SkeletonDataset(_Lazy(len(files), _NpyFile(files)), labels, [f.stem for f in files], lay)
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{p}: not a plain numeric .npy ({e}); object arrays are refused") from None
    fmt = input_format.upper()
    if fmt == "AUTO":
        if arr.ndim not in (3, 4, 5):
            raise ValueError(
                f"{p}: expected (T, V, C), (M, T, V, C) or (N, M, T, V, C), got {arr.shape}; "
                "name the axes with input_format"
            )
        v, c = arr.shape[-2:]
    elif fmt == "NTF":
        raise ValueError(
            "input_format: 'NTF' rows are the CTR-GCN npz layout; use read_npz, or reshape first"
        )
    else:
        if len(fmt) != arr.ndim or "V" not in fmt or "C" not in fmt:
            raise ValueError(f"input_format: {input_format!r} does not fit an array of shape {arr.shape}")
        v, c = arr.shape[fmt.index("V")], arr.shape[fmt.index("C")]
    lay = _resolve_layout(layout, int(v), int(c), str(p))
    rows = _NpyRows(p, input_format)
    rows._source = SequenceSource(arr, input_format, name=str(p))
    return SkeletonDataset(_Lazy(len(rows.source), rows), labels, None, lay)

