"""BVH motions: the ``HIERARCHY`` of joints with ``OFFSET`` and ``CHANNELS``, the ``MOTION`` frames, and joint
positions by forward kinematics (conventions in [`slimkit.data.mocap`][slimkit.data.mocap])."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from ..._errors import names_file
from ...layouts import Layout
from .._common import PathLike, _list_files, _path
from ..dataset import SkeletonDataset
from .sets import _bandai_labels, _folder_labels, _fps_meta, _mocap_dataset
from .skeleton import _UNITS, _check_fps, _fail, _layout_for, _rate, _select_frames, _side_names

__all__ = ["read_bvh", "read_bvh_file"]


_BVH_CHANNELS = {"xposition", "yposition", "zposition", "xrotation", "yrotation", "zrotation"}


@dataclass
class _BvhJoint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    end_site: bool = False


@dataclass
class _Bvh:
    joints: list[_BvhJoint]
    frame_time: float
    frames: int
    motion: np.ndarray | None  # (T, channels)


def _bvh_tokens(lines: list[str], stop: int) -> list[tuple[str, int]]:
    spaced = (ln.replace("{", " { ").replace("}", " } ") for ln in lines[:stop])
    return [(tok, i + 1) for i, ln in enumerate(spaced) for tok in ln.split()]


def _parse_bvh(path: Path, header_only: bool = False) -> _Bvh:
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    lines = text.splitlines()
    motion_at = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
    if motion_at is None:
        raise _fail(path, None, "not a BVH file: no MOTION line (expected HIERARCHY ... MOTION ...)")
    toks = _bvh_tokens(lines, motion_at)
    if not toks or toks[0][0].upper() != "HIERARCHY":
        raise _fail(path, toks[0][1] if toks else 1, f"expected HIERARCHY, got {toks[0][0] if toks else 'nothing'!r}")
    joints: list[_BvhJoint] = []
    stack: list[int] = []
    k = 1

    def take(what: str) -> tuple[str, int]:
        nonlocal k
        if k >= len(toks):
            raise _fail(path, motion_at + 1, f"the hierarchy ends early: expected {what}")
        t = toks[k]
        k += 1
        return t

    def number(what: str) -> float:
        tok, ln = take(what)
        try:
            return float(tok)
        except ValueError:
            raise _fail(path, ln, f"expected {what} (a number), got {tok!r}") from None

    while k < len(toks):
        tok, ln = take("a joint")
        word = tok.upper()
        if word in ("ROOT", "JOINT"):
            if word == "ROOT" and (joints or stack):
                raise _fail(path, ln, "a second ROOT: only one skeleton per file is supported")
            if word == "JOINT" and not stack:
                raise _fail(path, ln, "JOINT outside a ROOT's braces")
            name, _ = take("a joint name")
            joints.append(_BvhJoint(name, stack[-1] if stack else -1, np.zeros(3)))
            brace, bl = take("{")
            if brace != "{":
                raise _fail(path, bl, f"expected '{{' after {word} {name}, got {brace!r}")
            stack.append(len(joints) - 1)
        elif word == "END":
            site, sl = take("Site")
            if site.upper() != "SITE" or not stack:
                raise _fail(path, sl, f"expected 'End Site' inside a joint, got 'End {site}'")
            joints.append(_BvhJoint(f"{joints[stack[-1]].name}_end", stack[-1], np.zeros(3), end_site=True))
            brace, bl = take("{")
            if brace != "{":
                raise _fail(path, bl, f"expected '{{' after End Site, got {brace!r}")
            stack.append(len(joints) - 1)
        elif word == "OFFSET":
            if not stack:
                raise _fail(path, ln, "OFFSET outside a joint")
            joints[stack[-1]].offset = np.array([number("an OFFSET value") for _ in range(3)])
        elif word == "CHANNELS":
            if not stack or joints[stack[-1]].end_site:
                raise _fail(path, ln, "CHANNELS outside a joint")
            tok_n, nl = take("the channel count")
            if not tok_n.isdigit():
                raise _fail(path, nl, f"expected the number of channels, got {tok_n!r}")
            chans = [take("a channel name") for _ in range(int(tok_n))]
            for c, cl in chans:
                if c.lower() not in _BVH_CHANNELS:
                    raise _fail(path, cl, f"unknown channel {c!r}; expected one of X/Y/Z position/rotation")
            joints[stack[-1]].channels = [c.lower() for c, _ in chans]
        elif word == "}":
            if not stack:
                raise _fail(path, ln, "unbalanced '}'")
            stack.pop()
        else:
            raise _fail(path, ln, f"expected ROOT, JOINT, End Site, OFFSET, CHANNELS or '}}', got {tok!r}")
    if stack:
        raise _fail(path, motion_at + 1, f"MOTION inside an open joint ({joints[stack[-1]].name}): missing '}}'")
    if not any(not j.end_site for j in joints):
        raise _fail(path, motion_at + 1, "the hierarchy has no joint")
    # MOTION block
    frames = frame_time = None
    i = motion_at + 1
    while i < len(lines) and (frames is None or frame_time is None):
        s = lines[i].strip()
        i += 1
        if not s:
            continue
        key, _, val = s.partition(":")
        try:
            if key.strip().lower() == "frames":
                frames = int(val)
            elif key.strip().lower() == "frame time":
                frame_time = float(val)
            else:
                raise ValueError
        except ValueError:
            raise _fail(path, i, f"expected 'Frames: <n>' and 'Frame Time: <seconds>', got {s!r}") from None
    if frames is None or frame_time is None:
        raise _fail(path, i, "missing 'Frames:' or 'Frame Time:' after MOTION")
    if frames < 1 or not frame_time > 0:
        raise _fail(path, i, f"expected Frames >= 1 and Frame Time > 0, got {frames} and {frame_time}")
    if header_only:
        return _Bvh(joints, frame_time, frames, None)
    width = sum(len(j.channels) for j in joints)
    rows = [(n + 1, ln) for n, ln in enumerate(lines[i:], start=i) if ln.strip()]
    if len(rows) != frames:
        raise _fail(
            path, rows[-1][0] if rows else len(lines),
            f"Frames: declares {frames} frames, but {len(rows)} lines of motion data follow",
        )  # fmt: skip
    try:
        motion = np.loadtxt([ln for _, ln in rows], dtype=np.float64, ndmin=2)
    except ValueError:
        motion = None
    if motion is None or motion.shape != (frames, width):
        for n, ln in rows:
            vals = ln.split()
            if len(vals) != width:
                raise _fail(path, n, f"expected {width} channel values (the hierarchy's CHANNELS), got {len(vals)}")
            for v in vals:
                try:
                    float(v)
                except ValueError:
                    raise _fail(path, n, f"expected a number, got {v!r}") from None
        raise _fail(path, None, "could not read the motion data")
    if not np.isfinite(motion).all():
        n = rows[int(np.flatnonzero(~np.isfinite(motion).all(1))[0])][0]
        raise _fail(path, n, "motion data holds inf or nan")
    return _Bvh(joints, frame_time, frames, motion)


def _bvh_fk(bvh: _Bvh, frames: np.ndarray, scale: float, end_sites: bool) -> np.ndarray:
    assert bvh.motion is not None
    data = bvh.motion[frames]
    t = len(frames)
    rot: list[np.ndarray] = []  # (T, 3, 3) world rotation of each joint's frame
    pos: list[np.ndarray] = []  # (T, 3) world position of each joint
    col = 0
    for j in bvh.joints:
        local_t = np.broadcast_to(j.offset, (t, 3)).copy()
        angles, seq = [], ""
        for c in j.channels:
            if c.endswith("position"):
                local_t[:, "xyz".index(c[0])] = data[:, col]
            else:
                angles.append(data[:, col])
                seq += c[0].upper()
            col += 1
        # upper case: intrinsic rotations about the moving axes, in the order the CHANNELS line lists them
        local_r = Rotation.from_euler(seq, np.stack(angles, 1), degrees=True).as_matrix() if seq else np.eye(3)
        if j.parent < 0:
            rot.append(np.broadcast_to(local_r, (t, 3, 3)))
            pos.append(local_t)
        else:
            rot.append(rot[j.parent] @ local_r)
            pos.append(pos[j.parent] + (rot[j.parent] @ local_t[:, :, None])[:, :, 0])
    keep = [i for i, j in enumerate(bvh.joints) if end_sites or not j.end_site]
    return (np.stack([pos[i] for i in keep], axis=1) * scale).astype(np.float32)


def _bvh_scale(bvh: _Bvh, path: Path, unit: str | float) -> float:
    if not isinstance(unit, str):
        if isinstance(unit, bool) or not isinstance(unit, (int, float)) or not unit > 0:
            raise ValueError(f"unit: expected 'auto', one of {sorted(_UNITS)} or metres per file unit, got {unit!r}")
        return float(unit)
    if unit != "auto":
        if unit not in _UNITS:
            raise ValueError(f"unit: expected 'auto', one of {sorted(_UNITS)} or metres per file unit, got {unit!r}")
        return _UNITS[unit]
    # the body's size in the first frame, without the root (often a ground-level helper far from the body)
    first = _bvh_fk(bvh, np.zeros(1, dtype=np.int64), 1.0, end_sites=True)[0, 1:]
    extent = float(np.ptp(first, axis=0).max()) if len(first) else 0.0
    for lo, hi, u in ((0.3, 3.0, "m"), (30.0, 300.0, "cm"), (300.0, 3000.0, "mm")):
        if lo <= extent < hi:
            return _UNITS[u]
    raise ValueError(
        f"{path}: cannot tell the length unit: the body spans {extent:.4g} file units (a person spans "
        "about 1-2 m, 100-200 cm or 1000-2000 mm); pass unit='m', 'cm', 'mm', 'inch' or metres per unit"
    )


def _bvh_names(bvh: _Bvh, end_sites: bool) -> tuple[list[str], list[int]]:
    keep = [i for i, j in enumerate(bvh.joints) if end_sites or not j.end_site]
    where = {old: new for new, old in enumerate(keep)}
    names = _side_names([bvh.joints[i].name for i in keep])
    return names, [where[bvh.joints[i].parent] if bvh.joints[i].parent >= 0 else -1 for i in keep]


@names_file("BVH")
def read_bvh_file(
    path: PathLike, target_fps: float | None = None, unit: str | float = "auto", end_sites: bool = False
) -> tuple[np.ndarray, float]:
    """Joint positions of one BVH file by forward kinematics.

    Args:
        path: The ``.bvh`` file.
        target_fps: Resample to this rate (nearest frame); ``None`` keeps every frame.
        unit: Length unit of the file: ``"auto"`` (from the body's size in the first frame: metres,
            centimetres or millimetres), ``"m"``, ``"cm"``, ``"mm"``, ``"inch"``, or metres per file unit.
        end_sites: Also return the ``End Site`` points (after their joint).

    Returns:
        ``(positions (T, V, 3) float32 in metres, fps of the positions)``.

    Raises:
        ValueError: A malformed file; the message names the file and the line.
    """
    p = _path(path)
    tfps = _check_fps(target_fps)
    bvh = _parse_bvh(p)
    src = _rate(bvh.frame_time)
    frames = _select_frames(bvh.frames, src, tfps)
    return _bvh_fk(bvh, frames, _bvh_scale(bvh, p, unit), end_sites), (tfps or src)


class _BvhItem:
    def __init__(self, files: list[Path], joints: list[str], parents: list[int], target_fps: float | None,
                 unit: str | float, end_sites: bool) -> None:  # fmt: skip
        self.files, self.joints, self.parents = files, joints, parents
        self.target_fps, self.unit, self.end_sites = target_fps, unit, end_sites

    def __call__(self, i: int) -> np.ndarray:
        f = self.files[i]
        bvh = _parse_bvh(f)
        names, parents = _bvh_names(bvh, self.end_sites)
        if names != self.joints or parents != self.parents:
            raise ValueError(
                f"{f}: its hierarchy ({len(names)} joints) differs from the first file's ({len(self.joints)} "
                "joints); read files with different skeletons separately"
            )
        _layout_for("bvh", names, parents)  # registers a hierarchy's own layout in a spawned DataLoader worker
        frames = _select_frames(bvh.frames, _rate(bvh.frame_time), self.target_fps)
        return _bvh_fk(bvh, frames, _bvh_scale(bvh, f, self.unit), self.end_sites)[None]


def _bvh_fps(path: Path) -> float:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, ln in enumerate(fh, start=1):
            key, _, val = ln.strip().partition(":")
            if key.strip().lower() == "frame time":
                try:
                    return _rate(float(val))
                except (ValueError, ZeroDivisionError):
                    raise _fail(path, n, f"expected 'Frame Time: <seconds>' > 0, got {ln.strip()!r}") from None
    raise _fail(path, None, "no 'Frame Time:' line (expected one after MOTION)")


def read_bvh(
    path: PathLike,
    layout: str | Layout | None = None,
    target_fps: float | None = 30.0,
    unit: str | float = "auto",
    end_sites: bool = False,
) -> SkeletonDataset:
    """Read BVH motions: one ``.bvh`` file or a folder tree of them (all on the same hierarchy).

    Items are ``(1, T, V, 3)`` joint positions in metres by forward kinematics, parsed on access. The layout
    is the registered one with the same joints (the Bandai-Namco skeleton is ``bvh-bandai22``) or one built
    from the hierarchy ([`layout_from_hierarchy`][slimkit.data.mocap.layout_from_hierarchy]). Names are the file names
    without ``.bvh``.

    Labels: a sidecar ``<name>.json`` with ``content`` (Bandai-Namco) gives the label, with class names from
    a ``cfg/content_label.txt`` found up to two folders above (its order is the content index; on the
    Bandai-Namco set 17 names, of which the 64 clips use 16), and ``style`` goes to ``meta``; without
    sidecars, class folders as in [`read_amc`][slimkit.data.mocap.read_amc]; else ``-1``. ``meta`` holds
    ``source_fps`` and ``fps``.

    Args:
        path: A ``.bvh`` file or a folder searched recursively.
        layout: ``None`` keeps the file's layout; a layout name (``"kinect20"``, ``"ntu25"``) converts.
        target_fps: Frame rate of the items (nearest frame); ``None`` keeps every frame. Default 30.
        unit: Length unit: ``"auto"`` (from the body's size in the first frame), ``"m"``, ``"cm"``, ``"mm"``,
            ``"inch"``, or metres per file unit.
        end_sites: Also return ``End Site`` points as joints (named ``<joint>_end``).

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset].
    """
    p = _path(path)
    tfps = _check_fps(target_fps)
    files = _list_files(p, ".bvh", recursive=True)
    if unit != "auto":
        _bvh_scale(_Bvh([], 1.0, 1, None), p, unit)  # checks the argument now, without reading a file
    joints, parents = _bvh_names(_parse_bvh(files[0], header_only=True), end_sites)
    lay = _layout_for("bvh", joints, parents)
    meta: dict[str, Any] = _fps_meta([_bvh_fps(f) for f in files], tfps)
    bandai = _bandai_labels(files)
    if bandai is not None:
        labels, classes, extra = bandai
        split: dict[str, list[int]] = {}
        meta.update(extra)
    else:
        labels, classes, split = _folder_labels(p, files)
    item = _BvhItem(files, joints, parents, tfps, unit, end_sites)
    return _mocap_dataset(files, item, lay, labels, split, classes, meta, layout)
