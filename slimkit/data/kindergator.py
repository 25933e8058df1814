"""Kinder-Gator Kinect v1 CSVs (Aloba et al., Eurographics 2018) to a [`SkeletonDataset`][slimkit.data.SkeletonDataset].

One file is one trial of one person: ``POSE-<participant>_<order>-<Motion-Name>-<unix ms>.csv`` with a header
``Timestamp,HipCenterX,HipCenterY,HipCenterZ,...,FootRightZ,User-ID,Action,`` and one row per frame (about
30 fps), coordinates in metres in the Kinect camera frame, the joints in the Kinect SDK v1 order
([`kinect20`][slimkit.layouts], the same as NW-UCLA).

``<order>`` is the order in which that person performed the motions, not a class: the class is the motion
name. [`read_kinder_gator`][slimkit.data.kindergator.read_kinder_gator] reads one file, a folder of them, or the
data set's root (``Adults/`` and ``Children/``), and builds the cross-subject split the data set lacks: participants
sorted by id, every other one for training (the first, third, ... in ``train``, the others in ``test``), children
and adults alike.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .._arrays import mark_missing
from .._errors import names_file
from ..layouts import Layout
from ._common import PathLike, _fixed_files, _Lazy, _path
from .dataset import SkeletonDataset

__all__ = ["read_kinder_gator", "read_kinect_v1_csv", "KINDER_GATOR_CLASSES", "KINECT_V1_CSV_JOINTS"]

KINECT_V1_CSV_JOINTS = (
    "HipCenter Spine ShoulderCenter Head ShoulderLeft ElbowLeft WristLeft HandLeft ShoulderRight ElbowRight "
    "WristRight HandRight HipLeft KneeLeft AnkleLeft FootLeft HipRight KneeRight AnkleRight FootRight"
).split()
"""The Kinect SDK v1 joint names of the CSV header, in ``kinect20`` order."""

KINDER_GATOR_CLASSES = tuple(sorted(
    "Bend your knee while raising your leg|Bend your other knee while raising your leg|Bow|"
    "Climb and imaginary ladder|Do a forward lunge|Do two jumping jacks|Draw a circle|Draw a square|"
    "Draw a triangle|Draw the letter A|Draw the letter C|Draw the letter K|Draw the letter M|Draw the letter X|"
    "Fly like a bird|Fly like an airplane|Jump|Jump as high as you can|Kick a ball|"
    "Kick a ball as far as you can|Kick a ball as far as you can with the other leg|"
    "Kick a ball with the other leg|Lift your leg to one side|Lift your leg to the other side|"
    "Make the letter A|Make the letter C|Make the letter K|Make the letter M|Make the letter P|"
    "Make the letter T|Make the letter X|Make the letter Y|Point at the camera|Punch|"
    "Push an imaginary button in front of you|Put your hands on your hips and lean to the other side|"
    "Put your hands on your hips and lean to the side|Put your hands on your hips and twist|"
    "Raise your arm to one side|Raise your arm to the other side|Raise your hand|Raise your other hand|"
    "Run in place|Run in place as fast as you can|Signal someone to come here|Signal someone to stop|Swim|"
    "Swipe across an imaginary screen in front of you from left to right|"
    "Swipe across an imaginary screen in front of you from right to left|Throw a ball|"
    "Throw a ball as far as you can|Throw a ball as far as you can with the other arm|"
    "Throw a ball with your other arm|Touch your toes|Walk in place|Walk in place as fast as you can|"
    "Wave your hand|Wave your other hand".split("|")
))  # fmt: skip
"""The 58 Kinder-Gator motions, sorted; a label is the index in this tuple. A name is the file name's motion
with hyphens as spaces (the files' ``Throw-a-ball-`` is ``Throw a ball``)."""

_NAME = re.compile(r"^POSE-p?(\d+)_(\d+)-(.+?)-+(\d+)$")


def _motion(raw: str) -> str:
    return " ".join(w for w in raw.split("-") if w)


class _KinderGatorFile:
    """Parse file ``i`` on access: ``(1, T, 20, 3)`` float32, all-zero joints NaN (picklable for workers)."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def __call__(self, i: int) -> np.ndarray:
        return read_kinect_v1_csv(self.files[i])[None]


def _columns(path: Path, header: str) -> list[int]:
    cols = [c.strip() for c in header.rstrip("\r\n").split(",")]
    index = {c: k for k, c in enumerate(cols)}
    want = [f"{j}{ax}" for j in KINECT_V1_CSV_JOINTS for ax in "XYZ"]
    missing = [c for c in want if c not in index]
    if missing:
        raise ValueError(
            f"{path}: line 1: expected a Kinect v1 CSV header with Timestamp and <Joint>X,<Joint>Y,<Joint>Z "
            f"columns for the 20 joints {KINECT_V1_CSV_JOINTS}, but {len(missing)} are missing, e.g. "
            f"{missing[:3]}; got {cols[:4]}..."
        )
    return [index[c] for c in want]


@names_file("Kinect v1 .csv")
def read_kinect_v1_csv(path: PathLike) -> np.ndarray:
    """Read the joints of one Kinder-Gator style CSV file.

    Args:
        path: The ``.csv`` file.

    Returns:
        ``(T, 20, 3)`` float32 in ``kinect20`` order, metres; all-zero joints are ``NaN``.

    Raises:
        ValueError: When the header lacks a joint column, or a row has a value that is not a number; the
            message names the file and the line.
    """
    p = _path(path)
    with open(p, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    if not lines:
        raise ValueError(f"{p}: line 1: empty file, expected a Kinect v1 CSV header")
    cols = _columns(p, lines[0])
    rows = [ln for ln in lines[1:] if ln.strip()]
    if not rows:
        raise ValueError(f"{p}: no frames after the header (expected at least one row)")
    try:
        out = np.loadtxt(rows, delimiter=",", usecols=cols, ndmin=2, dtype=np.float64)
    except ValueError:
        out = None
    if out is None or out.shape != (len(rows), len(cols)):
        _raise_bad_line(p, lines, cols)
    return mark_missing(out.reshape(len(rows), 20, 3).astype(np.float32))


def _raise_bad_line(p: Path, lines: list[str], cols: list[int]) -> None:
    """Find the first row numpy could not read and name it (the slow path, only for broken files)."""
    need = max(cols) + 1
    for k, ln in enumerate(lines[1:]):
        if not ln.strip():
            continue
        fields = ln.split(",")
        if len(fields) < need:
            raise ValueError(
                f"{p}: line {k + 2}: expected at least {need} comma-separated fields, got {len(fields)}"
            )
        for c in cols:
            try:
                float(fields[c])
            except ValueError:
                raise ValueError(
                    f"{p}: line {k + 2}: column {c + 1}: expected a number, got {fields[c]!r}"
                ) from None
    raise ValueError(f"{p}: could not be read as a Kinect v1 CSV file")


def read_kinder_gator(path: PathLike, layout: str | Layout | None = None) -> SkeletonDataset:
    """Read Kinder-Gator trials: a ``.csv`` file, a folder of them, or the set's root (``Adults/``, ``Children/``).

    Items are ``(1, T, 20, 3)`` in the ``kinect20`` layout (metres, Kinect camera frame, about 30 fps, frames
    as recorded); all-zero joints are ``NaN``. Files are parsed when an item is accessed. Names are the file
    names without ``.csv``; labels index
    [`KINDER_GATOR_CLASSES`][slimkit.data.kindergator.KINDER_GATOR_CLASSES] (the motion named in the file name),
    or, when a file names a motion outside it, the sorted motions found. ``meta`` holds
    ``participant`` (int id), ``order`` (the position of the trial in that person's session) and ``group`` (``"adult"``
    / ``"child"`` from the ``Adults`` / ``Children`` folder, else ``""``). The split is cross-subject: participants of
    the loaded files sorted by id, the 1st, 3rd, 5th, ... in ``train`` and the others in ``test`` (on the full set:
    train 103, 290, 565, 595, 644, 876, 921, 970; test the other eight).

    Args:
        path: A ``.csv`` file, a folder of them, or a folder with such folders below it.
        layout: Must be ``None`` or ``"kinect20"``.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset] in the ``kinect20`` layout with ``train`` / ``test`` splits.
    """
    p, lay, files = _fixed_files(path, layout, "kinect20", ".csv", recursive=True)
    parsed = []
    for f in files:
        m = _NAME.match(f.stem)
        if m is None:
            raise ValueError(
                f"{f}: expected a Kinder-Gator file name POSE-<participant>_<order>-<Motion-Name>-<unix ms>.csv, "
                f"got {f.name!r}"
            )
        parsed.append((int(m.group(1)), int(m.group(2)), _motion(m.group(3))))
    motions = {mo for _, _, mo in parsed}
    classes = KINDER_GATOR_CLASSES if motions <= set(KINDER_GATOR_CLASSES) else tuple(sorted(motions))
    participants = sorted({pid for pid, _, _ in parsed})
    train_ids = set(participants[0::2])
    pid = np.array([x[0] for x in parsed], dtype=np.int64)
    group = [
        "adult" if f.parent.name.lower().startswith("adult")
        else "child" if f.parent.name.lower().startswith("child") else ""
        for f in files
    ]  # fmt: skip
    split = {
        "train": np.flatnonzero(np.isin(pid, list(train_ids))),
        "test": np.flatnonzero(~np.isin(pid, list(train_ids))),
    }
    return SkeletonDataset(
        _Lazy(len(files), _KinderGatorFile(files)),
        [classes.index(mo) for _, _, mo in parsed],
        [f.stem for f in files],
        lay,
        split,
        classes,
        {"participant": pid, "order": np.array([x[1] for x in parsed], dtype=np.int64), "group": group},
    )
