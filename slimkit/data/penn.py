"""Penn Action ``labels/*.mat`` annotations: 13 image joints with visibility, in the ``penn13`` layout."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from scipy.io import loadmat

from .._arrays import mark_missing
from .._errors import names_file
from .._matcheck import check_mat5
from ..layouts import Layout
from ._common import PathLike, _fixed_files
from .dataset import SkeletonDataset

__all__ = ["read_penn_action", "PENN_ACTION_CLASSES"]

PENN_ACTION_CLASSES = tuple(sorted(
    "baseball_pitch baseball_swing bench_press bowl clean_and_jerk golf_swing jump_rope jumping_jacks pullup "
    "pushup situp squat strum_guitar tennis_forehand tennis_serve".split()
))  # fmt: skip
"""Penn Action's 15 action names, sorted; a label is the index in this tuple."""



@names_file("Penn Action .mat")
def read_penn_action(path: PathLike, layout: str | Layout | None = None) -> SkeletonDataset:
    """Read Penn Action annotations: one ``labels/NNNN.mat`` file or the ``labels`` folder.

    ``x``, ``y`` and ``visibility`` ``(T, 13)`` become items ``(1, T, 13, 2)`` in pixels (origin top-left,
    y down) with invisible joints ``NaN``. The layout is ``penn13``, which names joints by the person's own
    side (the dataset's "left" joints are the person's right). Labels index
    [`PENN_ACTION_CLASSES`][slimkit.data.PENN_ACTION_CLASSES]
    (the 15 action names, sorted); the split is the file's ``train`` flag (``train`` / ``test``).
    ``meta`` holds ``view`` (front, back, left, right), ``image_size`` ``(height, width)`` and ``bbox``.

    Args:
        path: A ``.mat`` file or a folder of them.
        layout: Must be ``None`` or ``"penn13"``; convert with ``dataset.to_layout("coco17")``.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset] in the ``penn13`` layout.
    """
    p, lay, files = _fixed_files(path, layout, "penn13", ".mat")
    seqs, labels, train = [], [], []
    meta: dict[str, list[Any]] = {"view": [], "image_size": [], "bbox": []}
    for f in files:
        raw = f.read_bytes()
        try:
            check_mat5(raw)  # scipy's C reader can crash on a damaged file instead of raising
        except ValueError as e:
            raise ValueError(f"{f}: not a readable MATLAB file ({e})") from None
        try:
            d = loadmat(io.BytesIO(raw))
        except Exception as e:  # scipy raises several types for a non-MAT file
            raise ValueError(f"{f}: not a MATLAB file ({e})") from None
        missing = [k for k in ("x", "y", "visibility", "action") if k not in d]
        if missing:
            raise ValueError(f"{f}: not a Penn Action file: keys {missing} missing")
        x, y, vis = (np.asarray(d[k]) for k in ("x", "y", "visibility"))
        if x.ndim != 2 or x.shape[1] != 13 or y.shape != x.shape or vis.shape != x.shape:
            raise ValueError(
                f"{f}: x, y, visibility: expected (T, 13) each, got {x.shape}, {y.shape}, {vis.shape}"
            )
        try:
            a = np.stack([x, y], axis=-1).astype(np.float32)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{f}: x, y: expected numeric arrays ({e})") from None
        a[vis == 0] = np.nan
        mark_missing(a)  # a joint marked visible at exactly (0, 0) is an unfilled annotation: missing
        try:
            action = str(np.ravel(d["action"])[0]).strip()
            dims = np.ravel(d.get("dimensions", [0, 0]))
            image_size = (int(dims[0]), int(dims[1]))
            flag = int(np.ravel(d["train"])[0]) if "train" in d else 0
            bbox = np.asarray(d.get("bbox", np.zeros((0, 4))), dtype=np.float32)
            nframes = int(np.ravel(d["nframes"])[0]) if "nframes" in d else x.shape[0]
            dframes = int(dims[2]) if dims.size > 2 else x.shape[0]
        except (IndexError, TypeError, ValueError, OverflowError) as e:
            raise ValueError(
                f"{f}: action, dimensions (height, width, frames), train, nframes or bbox malformed ({e})"
            ) from None
        if nframes != x.shape[0] or dframes != x.shape[0]:
            raise ValueError(
                f"{f}: nframes ({nframes}) and dimensions[2] ({dframes}) declare the frame count, but x, y and "
                f"visibility hold {x.shape[0]} frames"
            )
        if action not in PENN_ACTION_CLASSES:
            raise ValueError(f"{f}: action: expected one of {PENN_ACTION_CLASSES}, got {action!r}")
        seqs.append(a[None])
        labels.append(PENN_ACTION_CLASSES.index(action))
        train.append(flag)
        meta["view"].append(str(np.ravel(d["pose"])[0]).strip() if "pose" in d and np.size(d["pose"]) else "")
        meta["image_size"].append(image_size)
        meta["bbox"].append(bbox)
    tr = np.array(train)
    split = {"train": np.flatnonzero(tr == 1), "test": np.flatnonzero(tr == -1)}
    return SkeletonDataset(
        seqs,
        labels,
        [f.stem for f in files],
        lay,
        split,
        PENN_ACTION_CLASSES,
        {"view": np.array(meta["view"]), "image_size": meta["image_size"], "bbox": meta["bbox"]},
    )

