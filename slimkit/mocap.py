"""Motion capture in: BVH and Acclaim ASF/AMC readers with forward kinematics.

Placeholder for the readers; :func:`detect_reader` is the hook :func:`slimkit.data.load` calls.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .data import SkeletonDataset

__all__ = ["detect_reader"]

_MAX_DEPTH = 3  # how deep detect_reader looks below a folder without recognised files of its own


def _kind_of(f: Path) -> str | None:
    suffix = f.suffix.lower()
    if suffix == ".bvh":
        return "bvh"
    if suffix in (".amc", ".asf"):
        return "amc"
    if suffix == ".csv":
        return "kinect-csv"
    return None


def _reader(kind: str) -> Callable[..., SkeletonDataset]:
    if kind == "kinect-csv":
        from .kindergator import read_kinder_gator

        return read_kinder_gator
    raise ValueError(f"no reader for {kind!r} yet")


def detect_reader(path: Path) -> Callable[..., SkeletonDataset] | None:
    """The reader for a mocap / CSV file or folder, or ``None`` when ``path`` is none of these.

    A file is told by its suffix (``.bvh``; ``.amc`` / ``.asf``; ``.csv``, read as Kinder-Gator Kinect v1 CSV).
    A folder is of one of these kinds when its own files are (a ``.json`` sidecar beside ``.bvh`` files does
    not count), or, when it holds no file that :func:`slimkit.data.load` recognises, when the files in its
    subfolders (up to three levels down) are.

    Args:
        path: An existing file or folder.

    Returns:
        The reader function, or ``None``.

    Raises:
        ValueError: When a folder mixes several of these kinds.
    """
    from .data import _SUFFIXES

    path = Path(path)
    if not path.is_dir():
        kind = _kind_of(path)
        return None if kind is None else _reader(kind)
    own = [f for f in path.iterdir() if f.is_file()]
    kinds = {k for k in map(_kind_of, own) if k is not None}
    if not kinds:
        if any(f.suffix.lower() in _SUFFIXES for f in own):
            return None
        root_depth = len(path.parts)
        for dirpath, dirnames, filenames in os.walk(path):
            if len(Path(dirpath).parts) - root_depth >= _MAX_DEPTH:
                dirnames[:] = []
            kinds.update(k for k in (_kind_of(Path(n)) for n in filenames) if k is not None)
    if not kinds:
        return None
    if len(kinds) > 1:
        raise ValueError(
            f"path: {path} mixes several formats ({sorted(kinds)}); pass a folder that holds one of them"
        )
    return _reader(kinds.pop())
