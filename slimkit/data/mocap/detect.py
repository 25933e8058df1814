"""Which reader takes a motion capture or CSV file or folder (for [`slimkit.data.load`][slimkit.data.load])."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .._common import _SUFFIXES, PathLike
from ..dataset import SkeletonDataset
from ..kindergator import read_kinder_gator
from .asf_amc import read_amc
from .bvh import read_bvh

__all__ = ["detect_reader"]

_MAX_DEPTH = 3  # how deep detect_reader looks below a folder without recognised files of its own


_KINDS = {".bvh": "bvh", ".amc": "amc", ".asf": "amc", ".csv": "kinect-csv"}


def _kind_of(f: Path) -> str | None:
    return _KINDS.get(f.suffix.lower())


def _reader(kind: str) -> Callable[..., SkeletonDataset]:
    return {"bvh": read_bvh, "amc": read_amc, "kinect-csv": read_kinder_gator}[kind]


def detect_reader(path: PathLike) -> Callable[..., SkeletonDataset] | None:
    """The reader for a mocap / CSV file or folder, or ``None`` when ``path`` is none of these.

    A file is told by its suffix (``.bvh``; ``.amc`` / ``.asf``; ``.csv``, read as Kinder-Gator Kinect v1 CSV).
    A folder is of one of these kinds when its own files are and none is of a format that
    [`slimkit.data.load`][slimkit.data.load] reads itself (``.json`` sidecars beside ``.bvh`` files do not count), or,
    when it holds no recognised file at all, when the files in its subfolders (up to three levels down) are.

    Args:
        path: An existing file or folder.

    Returns:
        The reader function, or ``None``.

    Raises:
        ValueError: When a folder mixes several of these kinds.
    """
    path = Path(path)
    if not path.is_dir():
        kind = _kind_of(path)
        return None if kind is None else _reader(kind)
    own = [f for f in path.iterdir() if f.is_file()]
    kinds = {k for k in map(_kind_of, own) if k is not None}
    known = {_SUFFIXES[f.suffix.lower()] for f in own if f.suffix.lower() in _SUFFIXES}
    if kinds == {"bvh"}:
        known.discard("nwucla")  # .json sidecars beside .bvh files (Bandai-Namco)
    if known:
        return None  # slimkit.data.load's own formats are there: it decides (and refuses a mix)
    if not kinds:
        root_depth = len(path.parts)
        for dirpath, dirnames, filenames in os.walk(path):
            if len(Path(dirpath).parts) - root_depth >= _MAX_DEPTH:
                dirnames[:] = []
            kinds.update(k for k in (_kind_of(Path(n)) for n in filenames) if k is not None)
    if not kinds:
        return None
    if len(kinds) > 1:
        raise ValueError(f"path: {path} mixes several formats ({sorted(kinds)}); pass a folder that holds one of them")
    return _reader(kinds.pop())
