"""What every reader of [`slimkit.data`][slimkit.data] shares: path checks, finding the files of a folder, telling
the layout from the data, trimming zero padding, and the lazy sequences that parse a file or convert a row only
when its item is read."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..layouts import Layout, get_layout

PathLike = Union[str, "os.PathLike[str]"]

_LAYOUT_BY_JOINTS = {25: "ntu25", 20: "kinect20", 18: "openpose18", 13: "penn13"}
# The formats slimkit.data.load reads by suffix (motion capture and CSV are told by slimkit.data.mocap.detect_reader).
_SUFFIXES = {
    ".skeleton": "ntu",
    ".npz": "npz",
    ".pkl": "pyskl",
    ".pickle": "pyskl",
    ".json": "nwucla",
    ".mat": "penn",
    ".npy": "npy",
}


def _path(path: Any, arg: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{arg}: expected a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{arg}: {p} does not exist")
    return p


def _list_files(p: Path, suffix: str, recursive: bool = False, skip: Iterable[str] = ()) -> list[Path]:
    """``[p]`` for a file; for a folder its ``suffix`` files, sorted (``recursive``: also in subfolders, the
    suffix in any case, sorted by relative path), leaving out the names (without suffix) in ``skip``.
    A folder without such files raises ``ValueError``."""
    if not p.is_dir():
        return [p]
    left_out = set(skip)
    if recursive:
        found = (f for f in p.rglob("*") if f.suffix.lower() == suffix and f.is_file())
        files = sorted((f for f in found if f.stem not in left_out), key=lambda f: f.relative_to(p).as_posix())
    else:
        files = sorted(f for f in p.glob(f"*{suffix}") if f.stem not in left_out)
    if not files:
        raise ValueError(f"path: no {suffix} files in {p}" + (" or its subfolders" if recursive else ""))
    return files


def _fixed_files(path: Any, layout: str | Layout | None, native: str, suffix: str, **find: Any
                 ) -> tuple[Path, str, list[Path]]:  # fmt: skip
    """For the readers of formats with one layout: the checked path, its layout ``native`` (``layout`` must be
    ``None`` or it) and the files to read (see ``_list_files``, which takes ``find``)."""
    p = _path(path)
    return p, _fixed_layout(layout, native, str(p)), _list_files(p, suffix, **find)


def _trim_trailing(a: np.ndarray) -> np.ndarray:
    """Cut the frames at the end of ``(M, T, V, C)`` with no valid joint (zero padding); keep at least one."""
    valid = np.isfinite(a).all(-1).any(axis=(0, 2))
    last = int(np.flatnonzero(valid)[-1]) + 1 if valid.any() else 1
    return a[:, :last]


def _infer_layout(v: int, c: int, where: str) -> str:
    if v == 17:
        if c == 2:
            return "coco17"
        raise ValueError(
            f"{where}: 17 joints with C={c} is ambiguous (coco17 keypoints with scores, or h36m17 3-D); "
            "pass layout='coco17' or layout='h36m17'"
        )
    if v in _LAYOUT_BY_JOINTS:
        return _LAYOUT_BY_JOINTS[v]
    raise ValueError(
        f"{where}: cannot tell the layout of V={v} joints (known from V alone: "
        f"{dict(sorted(_LAYOUT_BY_JOINTS.items()))}, and coco17 for V=17, C=2); pass layout=..."
    )


def _resolve_layout(layout: str | Layout | None, v: int, c: int, where: str) -> str:
    """The layout name for data with ``V=v`` joints and ``C=c`` channels: given (checked) or inferred."""
    if layout is None:
        return _infer_layout(v, c, where)
    lay = get_layout(layout)
    if lay.num_joints != v:
        raise ValueError(
            f"{where}: layout {lay.name!r} has {lay.num_joints} joints, but the data has V={v} joints"
        )
    return lay.name


def _fixed_layout(layout: str | Layout | None, native: str, where: str) -> str:
    if layout is not None and get_layout(layout).name != native:
        raise ValueError(
            f"layout: {where} is in the {native!r} layout, got layout={get_layout(layout).name!r}; "
            f"read it as {native!r} and convert with dataset.to_layout({get_layout(layout).name!r})"
        )
    return native


class _Lazy(Sequence):
    """A read-only sequence whose item ``i`` is ``fn(i)``: files parsed or rows converted on access."""

    def __init__(self, n: int, fn: Callable[[int], np.ndarray]) -> None:
        self._n, self._fn = n, fn

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        return self._fn(i)


class _Mapped(Sequence):
    """``source`` with ``fn`` applied to each item on access (picklable for DataLoader workers)."""

    def __init__(self, source: Sequence, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        self._source, self._fn = source, fn

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        return self._fn(self._source[i])


class _Concat(Sequence):
    """Several sequences read as one, end to end."""

    def __init__(self, parts: list[Sequence[Any]]) -> None:
        self.parts = parts
        self.ends = np.cumsum([len(q) for q in parts])

    def __len__(self) -> int:
        return int(self.ends[-1])

    def __getitem__(self, i: int) -> Any:  # type: ignore[override]
        k = int(np.searchsorted(self.ends, i, side="right"))
        return self.parts[k][i - (int(self.ends[k - 1]) if k else 0)]
