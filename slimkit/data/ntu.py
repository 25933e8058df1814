"""NTU RGB+D (60 and 120) ``.skeleton`` files: Kinect v2 bodies, denoised and ranked into actors as in the SGN /
CTR-GCN preprocessing, with the cross-subject, cross-view and cross-setup splits from the file names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._arrays import mark_missing
from .._errors import names_file
from .._utils import check_positive_int
from ..layouts import Layout
from ._common import PathLike, _fixed_files, _Lazy, _path
from .dataset import SkeletonDataset

__all__ = ["read_ntu_skeleton", "read_ntu_skeleton_file"]

# NTU RGB+D protocols (Shahroudy et al. 2016, Liu et al. 2019): training subjects, cameras and setups.
_NTU_TRAIN_SUBJECTS = frozenset(int(s) for s in (
    "1 2 4 5 8 9 13 14 15 16 17 18 19 25 27 28 31 34 35 38 45 46 47 49 50 52 53 54 55 56 57 58 59 70 74 78 "
    "80 81 82 83 84 85 86 89 91 92 93 94 95 97 98 100 103"
).split())  # fmt: skip
_NTU_TRAIN_CAMERAS = frozenset((2, 3))
_NTU_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
# Body denoising thresholds of the NTU preprocessing used by SGN / CTR-GCN / MS-G3D.
_NOISE_MIN_FRAMES = 11
_NOISE_SPREAD_XY = 0.8
_NOISE_SPREAD_RATE = 0.69754


def _parse_ntu(path: Path) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], int]:
    """Bodies ``(body_id, frame indices, joints (n, 25, 3))`` over the non-empty frames, and their count."""
    where = str(path)
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: not a text .skeleton file ({e})") from None

    def num(line_no: int) -> int:
        try:
            value = int(lines[line_no].split()[0])
        except (IndexError, ValueError):
            got = lines[line_no] if line_no < len(lines) else "the end of the file"
            raise ValueError(f"{where}: line {line_no + 1}: expected a count, got {got!r}") from None
        if value < 0:
            raise ValueError(f"{where}: line {line_no + 1}: expected a count >= 0, got {value}")
        return value

    # Walk the structure first (counts and body lines), then parse all joint lines in one C call.
    body_ids: list[str] = []
    body_frames: list[int] = []
    starts: list[int] = []
    pos, t = 1, 0
    for _ in range(num(0)):
        n_bodies = num(pos)
        pos += 1
        for _ in range(n_bodies):
            if pos >= len(lines) or not lines[pos].split():
                raise ValueError(
                    f"{where}: line {pos + 1}: expected a body line, got the end of the file or a blank"
                )
            n_joints = num(pos + 1)
            if n_joints != 25:
                raise ValueError(f"{where}: line {pos + 2}: expected 25 joints (Kinect v2), got {n_joints}")
            if pos + 2 + n_joints > len(lines):
                raise ValueError(f"{where}: the file ends inside the joints of the body on line {pos + 1}")
            body_ids.append(lines[pos].split()[0])
            body_frames.append(t)
            starts.append(pos + 2)
            pos += 2 + n_joints
        if n_bodies:
            t += 1  # frames without any body are dropped, as in the CTR-GCN / pyskl preprocessing
    extra = next((i for i in range(pos, len(lines)) if lines[i].strip()), None)
    if extra is not None:
        raise ValueError(
            f"{where}: line {extra + 1}: the file declares {num(0)} frames, which end on line {pos}, but more "
            "data follows (a wrong frame count or trailing garbage)"
        )
    if not starts:
        return [], 0
    joint_lines = [line for s in starts for line in lines[s : s + 25]]
    try:
        xyz = np.loadtxt(joint_lines, usecols=(0, 1, 2), dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise ValueError(
            f"{where}: expected joint lines of 12 numbers (x y z depthX depthY colorX colorY orientation(4) "
            f"trackingState): {e}"
        ) from None
    xyz = xyz.reshape(len(starts), 25, 3)
    ids = np.array(body_ids)
    frames = np.array(body_frames)
    bodies = []
    for b in dict.fromkeys(body_ids):  # first-seen order
        sel = ids == b
        bodies.append((b, frames[sel], xyz[sel]))
    return bodies, t


def _body_motion(j: np.ndarray) -> float:
    return float(np.var(j.reshape(-1, 3), axis=0).sum())


def _select_bodies(
    bodies: list[tuple[str, np.ndarray, np.ndarray]], max_bodies: int
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Denoise and rank bodies; return up to ``max_bodies`` actor slots of ``(frames, joints)`` tracks."""
    motion = {b: _body_motion(j) for b, _, j in bodies}
    if len(bodies) > 1:
        # 1. Kinect often "sees" a body for a few frames (furniture, reflections): drop short tracks.
        kept = [b for b in bodies if len(b[1]) > _NOISE_MIN_FRAMES]
        bodies = kept or [max(bodies, key=lambda b: len(b[1]))]
    if len(bodies) > 1:
        # 2. A person is taller than wide; a track that is mostly wider than tall is not a person.
        kept = []
        for b, f, j in bodies:
            spread = j.max(axis=1) - j.min(axis=1)
            ok = spread[:, 0] <= _NOISE_SPREAD_XY * spread[:, 1]
            if 1.0 - ok.mean() >= _NOISE_SPREAD_RATE:
                continue
            if not ok.all():
                motion[b] = min(motion[b], _body_motion(j[ok]))
            kept.append((b, f, j))
        bodies = kept or [max(bodies, key=lambda b: motion[b[0]])]
    # 3. The most active body is actor 1. Kinect renumbers a person it lost and found again, so a later
    #    track that does not overlap an actor's frames in time continues that actor.
    bodies = sorted(bodies, key=lambda b: -motion[b[0]])
    slots: list[list[tuple[np.ndarray, np.ndarray]]] = []
    spans: list[tuple[int, int]] = []
    for _, f, j in bodies:
        lo, hi = int(f[0]), int(f[-1])
        for s, (a, b) in enumerate(spans):
            if hi < a or lo > b:
                slots[s].append((f, j))
                spans[s] = (min(a, lo), max(b, hi))
                break
        else:
            if len(slots) < max_bodies:
                slots.append([(f, j)])
                spans.append((lo, hi))
    return slots


@names_file("NTU .skeleton")
def read_ntu_skeleton_file(path: PathLike, max_bodies: int = 2) -> np.ndarray:
    """Read one NTU RGB+D ``.skeleton`` file into ``(M, T, 25, 3)`` float32 camera-space metres.

    Frames in which Kinect saw no body are dropped. With several bodies, noise tracks are removed as in the
    NTU preprocessing of SGN / CTR-GCN (tracks of at most 11 frames; tracks wider than tall in at least
    69.754 % of their frames), the remaining bodies are ranked by motion (summed variance of their joints)
    and up to ``max_bodies`` actors are kept; a later track that does not overlap an actor in time continues
    it. ``M`` is the number of actors found (1 to ``max_bodies``); frames in which an actor is absent are
    ``NaN``, as are all-zero joints.

    Args:
        path: The ``.skeleton`` file.
        max_bodies: Most actors to keep.

    Returns:
        float32 array ``(M, T, 25, 3)``.
    """
    p = _path(path)
    check_positive_int(max_bodies, "max_bodies")
    bodies, t = _parse_ntu(p)
    if not bodies:
        raise ValueError(f"{p}: no body in any frame (NTU lists such samples as missing skeletons)")
    slots = _select_bodies(bodies, max_bodies)
    out = np.full((len(slots), t, 25, 3), np.nan, dtype=np.float32)
    for s, tracks in enumerate(slots):
        for f, j in tracks:
            out[s, f] = j
    mark_missing(out)
    valid = np.isfinite(out).all(-1).any(axis=(0, 2))
    return out[:, valid] if valid.any() else out[:, :1]


def _ntu_fields(name: str) -> dict[str, int] | None:
    m = _NTU_NAME.search(name)
    if not m:
        return None
    return dict(
        zip(("setup", "camera", "subject", "replication", "action"), map(int, m.groups()), strict=True)
    )


@names_file("NTU .skeleton")
def read_ntu_skeleton(
    path: PathLike, max_bodies: int = 2, ignore: Iterable[str] = (), layout: str | Layout | None = None
) -> SkeletonDataset:
    """Read an NTU RGB+D (60 or 120) ``.skeleton`` file or a folder of them.

    Labels (``A`` number - 1), the subject, camera, setup and the splits come from the file names
    (``SsssCcccPpppRrrrAaaa``): ``xsub_train`` / ``xsub_val`` (the training subjects of NTU-120, which
    contain those of NTU-60), ``xview_train`` / ``xview_val`` (cameras 2, 3 train) and ``xset_train`` /
    ``xset_val`` (even setups train, NTU-120). A folder is read lazily: a file is parsed when its item is
    accessed; see [`read_ntu_skeleton_file`][slimkit.data.read_ntu_skeleton_file] for the body selection.

    Args:
        path: A ``.skeleton`` file or a folder holding them.
        max_bodies: Most actors kept per sequence.
        ignore: Sample names (without ``.skeleton``) to leave out, e.g. NTU's list of samples with missing
            skeletons.
        layout: Must be ``None`` or ``"ntu25"``.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset] in the ``ntu25`` layout.
    """
    p, lay, files = _fixed_files(path, layout, "ntu25", ".skeleton", skip=ignore)
    names = [f.stem for f in files]
    fields = [_ntu_fields(n) for n in names]
    labels = [f["action"] - 1 if f else -1 for f in fields]
    meta = {
        k: np.array([f[k] if f else -1 for f in fields])
        for k in ("setup", "camera", "subject", "replication")
    }
    split: dict[str, list[int]] = {}
    if all(fields):
        rules = {
            "xsub": np.isin(meta["subject"], list(_NTU_TRAIN_SUBJECTS)),
            "xview": np.isin(meta["camera"], list(_NTU_TRAIN_CAMERAS)),
            "xset": meta["setup"] % 2 == 0,
        }
        for k, train in rules.items():
            split[f"{k}_train"] = np.flatnonzero(train).tolist()
            split[f"{k}_val"] = np.flatnonzero(~train).tolist()
    if p.is_dir():
        seqs: Sequence[Any] = _Lazy(len(files), _NtuFile(files, max_bodies))
    else:
        seqs = [read_ntu_skeleton_file(p, max_bodies)]
    return SkeletonDataset(seqs, labels, names, lay, split, meta=meta)


class _NtuFile:
    def __init__(self, files: list[Path], max_bodies: int) -> None:
        self.files, self.max_bodies = files, max_bodies

    def __call__(self, i: int) -> np.ndarray:
        return read_ntu_skeleton_file(self.files[i], self.max_bodies)

