"""One entry point, [`load`][slimkit.data.load]: tell the format of a file or folder and call its reader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..layouts import Layout
from ._common import _SUFFIXES, PathLike, _path
from .dataset import SkeletonDataset
from .mocap import detect_reader
from .npy import read_npy
from .npz import read_npz
from .ntu import read_ntu_skeleton
from .nwucla import read_nwucla
from .penn import read_penn_action
from .pyskl import read_pyskl

__all__ = ["load", "load_dataset"]

_READERS: dict[str, Callable[..., SkeletonDataset]] = {
    "ntu": read_ntu_skeleton,
    "npz": read_npz,
    "pyskl": read_pyskl,
    "nwucla": read_nwucla,
    "penn": read_penn_action,
    "npy": read_npy,
}


def load(
    path: PathLike, layout: str | Layout | None = None, trust_pickle: bool = False, **kw: Any
) -> SkeletonDataset:
    """Read a skeleton data set, recognising its format from the file or the files in the folder.

    ``.skeleton`` -> [`read_ntu_skeleton`][slimkit.data.read_ntu_skeleton], ``.npz`` ->
    [`read_npz`][slimkit.data.read_npz], ``.pkl`` / ``.pickle`` ->
    [`read_pyskl`][slimkit.data.read_pyskl], ``.json`` -> [`read_nwucla`][slimkit.data.read_nwucla], ``.mat`` ->
    [`read_penn_action`][slimkit.data.read_penn_action], ``.npy`` ->
    [`read_npy`][slimkit.data.read_npy]. A folder is read when all its recognised files have one of these suffixes
    (``.skeleton``, ``.json``, ``.mat``, ``.npy``). Motion capture and CSV files are recognised
    by [`detect_reader`][slimkit.data.mocap.detect_reader]: ``.bvh`` -> [`read_bvh`][slimkit.data.mocap.read_bvh],
    ``.amc`` / ``.asf`` -> [`read_amc`][slimkit.data.mocap.read_amc], Kinder-Gator ``.csv`` ->
    [`read_kinder_gator`][slimkit.data.kindergator.read_kinder_gator], also in folders that hold them in subfolders
    (HDM05's ``train/<class>/``, Kinder-Gator's ``Adults/``).

    Args:
        path: A file or a folder.
        layout: Layout of the data. For formats with a fixed layout (NTU, NW-UCLA, Penn Action) it must be
            that layout; elsewhere it overrides the inferred one.
        trust_pickle: For ``.pkl`` files, unpickle without restrictions (see [`read_pyskl`][slimkit.data.read_pyskl]);
            by default only builtin containers and numpy arrays are admitted. Ignored for other formats.
        **kw: Passed to the reader (e.g. ``max_bodies``, ``with_score``, ``input_format``, ``labels``).

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset].
    """
    p = _path(path)
    reader = detect_reader(p)
    if reader is not None:
        return reader(p, layout=layout, **kw)
    if p.is_dir():
        found = {
            _SUFFIXES[f.suffix.lower()] for f in p.iterdir() if f.is_file() and f.suffix.lower() in _SUFFIXES
        }
        kinds = found - {"npz", "pyskl"}  # single-file formats: a folder of them is ambiguous
        if len(kinds) != 1:
            inner = sorted(d.name for d in p.iterdir() if d.is_dir())
            raise ValueError(
                f"path: {p} should hold files of one kind (.skeleton, .json, .mat or .npy), found "
                f"{sorted(found) or 'none'}"
                + (f"; subfolders: {inner}" if inner else "")
                + ("; pass the .npz / .pkl file itself" if found & {"npz", "pyskl"} else "")
            )
        kind = kinds.pop()
    else:
        kind = _SUFFIXES.get(p.suffix.lower())
        if kind is None:
            raise ValueError(
                f"path: cannot tell the format of {p.name}: expected a suffix in {sorted(_SUFFIXES)} "
                f"or a folder of such files, got {p.suffix or 'no suffix'!r}"
            )
    if kind == "pyskl":
        kw["trust_pickle"] = trust_pickle
    return _READERS[kind](p, layout=layout, **kw)


load_dataset = load  # the same function, under a name that says what it loads (slimkit.load_dataset)
