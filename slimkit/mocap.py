"""Motion capture in: BVH and Acclaim ASF/AMC readers with forward kinematics.

Mocap files store joint *rotations* on a skeleton, not joint positions. The readers here compute the
positions by forward kinematics, with `scipy.spatial.transform.Rotation` doing every Euler
conversion, and return the usual [`SkeletonDataset`][slimkit.data.SkeletonDataset] (items ``(1, T, V, 3)`` float32).

* **BVH** ([`read_bvh`][slimkit.mocap.read_bvh]): a ``HIERARCHY`` of joints with ``OFFSET`` and ``CHANNELS``, then
  ``MOTION`` (``Frames:``, ``Frame Time:`` and one line of channel values per frame). Rotation channels are Euler angles
  in degrees applied in the order the file lists them about the joint's own, moving axes: ``Zrotation Xrotation
  Yrotation`` is the intrinsic sequence ``"ZXY"``, ``R = Rz @ Rx @ Ry``. A joint's local translation is its ``OFFSET``,
  replaced by its position channels when it has some (the Bandai-Namco files give every joint position channels that
  repeat its offset; only the hips move). ``End Site`` points are left out unless ``end_sites=True``.
* **Acclaim ASF/AMC** ([`read_amc`][slimkit.mocap.read_amc]): the ``.asf`` skeleton gives each bone a rest
  ``direction``, ``length`` and ``axis`` frame ``C``; the ``.amc`` motion gives, per frame, the root's translation and
  rotation and the other bones' ``dof`` angles. A bone turns by ``C @ M @ C^-1`` in its parent's frame, ``M`` the Euler
  rotation of its dofs applied in the listed order about fixed axes (``rx ry rz``: ``Rz @ Ry @ Rx``, the CMU/Acclaim
  convention). A joint is the far end of its bone, and the root joint the root position. ``:units length L`` means one
  file unit is ``1 / L`` inch (HDM05 and CMU: ``L = 0.45``, 0.0564 m).

Positions come out in metres, in the capture's world frame (y up for both sets here; not turned towards a
camera: models with ``view_align`` turn them). The frame rate is the file's (BVH ``Frame Time``; AMC: the
``_<fps>`` ending of HDM05 names (``HDM_bd_squat1Reps_001_120.amc``), else 120, the CMU and HDM05 rate), and
``target_fps`` (default **30**, the Kinect rate) resamples by taking the frame nearest each target time,
which is exact decimation for 120 -> 30 fps and keeps the skeleton rigid; ``target_fps=None`` keeps every
frame. ``meta`` records ``fps`` (of the items) and ``source_fps``.

Known skeletons get a named layout: the HDM05 / CMU ASF skeleton is ``hdm05-31``, the Bandai-Namco BVH
skeleton ``bvh-bandai22``; both convert to ``kinect20`` and ``ntu25`` by nearest joints (table in the docs'
data formats page), so ``dataset.to_layout("kinect20")`` or ``layout="kinect20"`` feeds them to Kinect models.
Any other hierarchy gets a layout built from the file ([`layout_from_hierarchy`][slimkit.mocap.layout_from_hierarchy]):
joint names with their side marker (``_L``, ``Left...``, ``l...``) turned into an ``l_`` / ``r_`` prefix, parts from the
tree.

Labels: a BVH file's sidecar ``.json`` with ``content`` (Bandai-Namco; class names from
``cfg/content_label.txt`` when found), else the folder the file lies in when a folder was read and the file
lies below it (HDM05's ``train/<class>/`` folders); a folder two levels up named ``train`` / ``test`` /
``val`` makes the split.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from ._errors import names_file
from .data import PathLike, SkeletonDataset, _Lazy, _path
from .layouts import Layout, get_layout, list_layouts, register_layout

__all__ = [
    "read_bvh",
    "read_amc",
    "read_bvh_file",
    "read_amc_file",
    "detect_reader",
    "layout_from_hierarchy",
]

_MAX_DEPTH = 3  # how deep detect_reader looks below a folder without recognised files of its own
_INCH = 0.0254
_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": _INCH}
_SPLIT_NAMES = ("train", "test", "val", "validation")


def _fail(path: Path, line: int | None, msg: str) -> ValueError:
    return ValueError(f"{path}: line {line}: {msg}" if line is not None else f"{path}: {msg}")


# ---------------------------------------------------------------------------------------------------------
# layouts from a hierarchy
# ---------------------------------------------------------------------------------------------------------
_SIDE_PATTERNS = (
    (re.compile(r"^(?:left)[_ .:-]?(.+)$", re.I), "l"),
    (re.compile(r"^(?:right)[_ .:-]?(.+)$", re.I), "r"),
    (re.compile(r"^(.+?)[_ .:-]?left$", re.I), "l"),
    (re.compile(r"^(.+?)[_ .:-]?right$", re.I), "r"),
    (re.compile(r"^(.+?)[_ .](l)$", re.I), "l"),
    (re.compile(r"^(.+?)[_ .](r)$", re.I), "r"),
    (re.compile(r"^(l)[_ .](.+)$", re.I), "l"),
    (re.compile(r"^(r)[_ .](.+)$", re.I), "r"),
)


def _clean(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.split(":")[-1].lower()).strip("_") or "joint"


def _side_names(names: Sequence[str]) -> list[str]:
    """Joint names in slimkit's convention: lower case, the side as an ``l_`` / ``r_`` prefix."""
    out = []
    lowered = {n.lower() for n in names}
    for n in names:
        bare = n.split(":")[-1]
        new = None
        for pat, side in _SIDE_PATTERNS:
            m = pat.match(bare)
            if m:
                groups = [g for g in m.groups() if g.lower() not in ("l", "r")]
                new = f"{side}_{_clean(groups[0])}"
                break
        if new is None and bare[:1].lower() in "lr" and len(bare) > 2:
            twin = ("r" if bare[0].lower() == "l" else "l") + bare[1:].lower()
            if twin in lowered:  # ASF style: lfemur / rfemur
                new = f"{bare[0].lower()}_{_clean(bare[1:])}"
        out.append(new or _clean(bare))
    return out if len(set(out)) == len(out) else [_clean(n) + f"_{i}" for i, n in enumerate(names)]


def layout_from_hierarchy(name: str, joints: Sequence[str], parents: Sequence[int]) -> Layout:
    """Build a [`Layout`][slimkit.layouts.Layout] from a mocap hierarchy (not registered).

    Joints whose name carries a side (``l_``/``r_`` after [`read_bvh`][slimkit.mocap.read_bvh]'s renaming) form limbs:
    each chain of one side hanging off a centre joint is a limb, the one attached nearer the root the leg, the other the
    arm (extra chains join the arm). The centre is the joint the legs hang from; the spine runs from there to the joint
    the arms hang from.

    Args:
        name: Layout name.
        joints: Joint names (``l_`` / ``r_`` prefixes for sides).
        parents: Parent index per joint, ``-1`` for the root.

    Returns:
        The layout.
    """
    v = len(joints)
    depth = [0] * v
    for j in range(v):
        k, d = j, 0
        while parents[k] != -1 and d <= v:
            k, d = parents[k], d + 1
        depth[j] = d
    side = [n[:2] if n[:2] in ("l_", "r_") else "" for n in joints]
    tops = [j for j in range(v) if side[j] and (parents[j] == -1 or side[parents[j]] != side[j])]
    part_of: dict[int, str] = {}
    attach: dict[str, list[int]] = {"leg": [], "arm": []}
    for s, word in (("l_", "left"), ("r_", "right")):
        mine = sorted((t for t in tops if side[t] == s), key=lambda t: depth[parents[t]] if parents[t] >= 0 else -1)
        for rank, t in enumerate(mine):
            kind = "leg" if rank == 0 and len(mine) > 1 else "arm"
            attach[kind].append(parents[t])
            stack = [t]
            while stack:
                j = stack.pop()
                part_of[j] = f"{word}_{kind}"
                stack.extend(c for c in range(v) if parents[c] == j)
    parts: dict[str, list[int]] = {"torso": []}
    for p in ("left_arm", "right_arm", "left_leg", "right_leg"):
        parts[p] = []
    for j in range(v):
        parts[part_of.get(j, "torso")].append(j)
    root = list(parents).index(-1)
    center = attach["leg"][0] if attach["leg"] and attach["leg"][0] >= 0 else root
    top = attach["arm"][0] if attach["arm"] and attach["arm"][0] >= 0 else None
    return Layout(
        name=name,
        joints=tuple(joints),
        parents=tuple(int(p) for p in parents),
        parts={k: tuple(x) for k, x in parts.items() if x},
        center=(center,),
        spine=((center,), (top,)) if top is not None and top != center else None,
    )


def _layout_for(kind: str, joints: list[str], parents: list[int]) -> str:
    """The registered layout with these joints and parents, or a new one registered for them."""
    for name in list_layouts():
        lay = get_layout(name)
        if list(lay.joints) == joints and list(lay.parents) == parents:
            return name
    digest = hashlib.sha1(repr((joints, parents)).encode()).hexdigest()[:8]
    name = f"{kind}{len(joints)}-{digest}"
    register_layout(layout_from_hierarchy(name, joints, parents), overwrite=True)
    return name


# ---------------------------------------------------------------------------------------------------------
# forward kinematics
# ---------------------------------------------------------------------------------------------------------
def _select_frames(n: int, source_fps: float, target_fps: float | None) -> np.ndarray:
    """Indices of the source frames nearest to each target time (all frames when no target)."""
    if target_fps is None or abs(target_fps - source_fps) <= 1e-4 * source_fps:
        return np.arange(n)
    duration = (n - 1) / source_fps
    count = int(np.floor(duration * target_fps * (1 + 1e-6))) + 1
    return np.clip(np.rint(np.arange(count) * source_fps / target_fps), 0, n - 1).astype(np.int64)


def _rate(frame_time: float) -> float:
    """Frames per second from a frame time, snapped to a whole number when within the precision files write
    frame times with (``0.0333333`` s is 30 fps, not 30.00003)."""
    rate = 1.0 / frame_time
    return float(round(rate)) if abs(rate - round(rate)) <= 1e-5 * rate else rate


def _check_fps(target_fps: float | None) -> float | None:
    if target_fps is None:
        return None
    if isinstance(target_fps, bool) or not isinstance(target_fps, (int, float)) or not target_fps > 0:
        raise ValueError(f"target_fps: expected a positive number or None, got {target_fps!r}")
    return float(target_fps)


# ---------------------------------------------------------------------------------------------------------
# BVH
# ---------------------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------------------
# Acclaim ASF / AMC
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _Bone:
    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray
    axis_order: str
    dof: list[str]
    parent: int = -1


@dataclass
class _Asf:
    path: Path
    bones: list[_Bone]  # bones[0] is the root
    root_order: list[str]
    root_axis: str
    root_position: np.ndarray
    root_orientation: np.ndarray
    length_unit: float  # metres per file unit
    degrees: bool
    axes: dict[int, np.ndarray] = field(default_factory=dict)  # bone -> its axis frame C, computed once


_DOFS = {"rx", "ry", "rz", "tx", "ty", "tz", "l"}


def _floats(path: Path, line: int, vals: list[str], n: int, what: str) -> np.ndarray:
    if len(vals) < n:
        raise _fail(path, line, f"expected {n} numbers for {what}, got {len(vals)}")
    try:
        return np.array([float(v) for v in vals[:n]])
    except ValueError:
        raise _fail(path, line, f"expected {n} numbers for {what}, got {vals[:n]}") from None


@functools.lru_cache(maxsize=64)
def _parse_asf_cached(path: str, mtime: float) -> _Asf:
    return _parse_asf(Path(path))


def _parse_asf(path: Path) -> _Asf:
    with open(path, encoding="latin-1") as fh:
        lines = fh.read().splitlines()
    section = ""
    root = _Bone("root", np.zeros(3), 0.0, np.zeros(3), "XYZ", [])
    bones = [root]
    root_order = ["tx", "ty", "tz", "rx", "ry", "rz"]
    root_axis, root_pos, root_ori = "XYZ", np.zeros(3), np.zeros(3)
    length_mult, degrees = 1.0, True
    cur: _Bone | None = None
    hierarchy: list[tuple[int, list[str]]] = []
    for n, raw in enumerate(lines, start=1):
        s = raw.split("#", 1)[0].strip()
        if not s:
            continue
        words = s.split()
        if words[0].startswith(":"):
            section = words[0][1:].lower()
            continue
        key = words[0].lower()
        if section == "units":
            if key == "length":
                length_mult = float(_floats(path, n, words[1:], 1, "length")[0])
                if not length_mult > 0:
                    raise _fail(path, n, f"expected a positive :units length, got {length_mult}")
            elif key == "angle":
                degrees = not (len(words) > 1 and words[1].lower().startswith("rad"))
        elif section == "root":
            if key == "order":
                root_order = [w.lower() for w in words[1:]]
                bad = [w for w in root_order if w not in _DOFS - {"l"}]
                if bad or len(root_order) == 0:
                    raise _fail(path, n, f"expected root order of TX TY TZ RX RY RZ, got {words[1:]}")
            elif key == "axis":
                root_axis = words[1].upper() if len(words) > 1 else "XYZ"
            elif key == "position":
                root_pos = _floats(path, n, words[1:], 3, "the root position")
            elif key == "orientation":
                root_ori = _floats(path, n, words[1:], 3, "the root orientation")
        elif section == "bonedata":
            if key == "begin":
                cur = _Bone("", np.zeros(3), 0.0, np.zeros(3), "XYZ", [])
            elif key == "end":
                if cur is None or not cur.name:
                    raise _fail(path, n, "a bone without a name (expected 'name <bone>' between begin and end)")
                bones.append(cur)
                cur = None
            elif cur is None:
                raise _fail(path, n, f"expected 'begin' to open a bone, got {words[0]!r}")
            elif key == "name":
                cur.name = words[1] if len(words) > 1 else ""
            elif key == "direction":
                cur.direction = _floats(path, n, words[1:], 3, "the bone direction")
            elif key == "length":
                cur.length = float(_floats(path, n, words[1:], 1, "the bone length")[0])
            elif key == "axis":
                cur.axis = _floats(path, n, words[1:], 3, "the bone axis")
                cur.axis_order = words[4].upper() if len(words) > 4 else "XYZ"
                if sorted(cur.axis_order) != ["X", "Y", "Z"]:
                    raise _fail(path, n, f"expected an axis order such as XYZ, got {cur.axis_order!r}")
            elif key == "dof":
                cur.dof = [w.lower() for w in words[1:]]
                bad = [w for w in cur.dof if w not in _DOFS]
                if bad:
                    raise _fail(path, n, f"unknown dof {bad[0]!r}; expected rx, ry, rz, tx, ty, tz or l")
            elif key in ("limits", "id", "bodymass", "cofmass") or key.startswith("("):
                pass
            else:
                raise _fail(path, n, f"unknown bone field {words[0]!r}")
        elif section == "hierarchy":
            if key in ("begin", "end"):
                continue
            hierarchy.append((n, words))
    index = {b.name: i for i, b in enumerate(bones)}
    if len(index) != len(bones):
        raise _fail(path, None, "two bones have the same name")
    if len(bones) < 2 or not hierarchy:
        raise _fail(path, None, "not an ASF skeleton: expected :bonedata and :hierarchy sections")
    for n, words in hierarchy:
        if words[0] not in index:
            raise _fail(path, n, f"unknown parent bone {words[0]!r} in :hierarchy")
        for child in words[1:]:
            if child not in index:
                raise _fail(path, n, f"unknown bone {child!r} in :hierarchy")
            bones[index[child]].parent = index[words[0]]
    orphans = [b.name for b in bones[1:] if b.parent < 0]
    if orphans:
        raise _fail(path, None, f"bones {orphans[:3]} have no parent in :hierarchy")
    # parents before children (the FK below walks the bones in this order)
    order, seen = [0], {0}
    while len(order) < len(bones):
        grew = False
        for i, b in enumerate(bones):
            if i not in seen and b.parent in seen:
                order.append(i)
                seen.add(i)
                grew = True
        if not grew:
            raise _fail(path, None, "the :hierarchy has a cycle")
    if order != list(range(len(bones))):
        remap = {old: new for new, old in enumerate(order)}
        bones = [bones[i] for i in order]
        for b in bones:
            b.parent = remap[b.parent] if b.parent >= 0 else -1
    return _Asf(path, bones, root_order, root_axis, root_pos, root_ori, _INCH / length_mult, degrees)


@dataclass
class _Amc:
    frames: int
    values: dict[str, np.ndarray]  # bone -> (T, n values)
    degrees: bool | None


def _amc_fast(lines: list[str], width: dict[str, int]) -> tuple[int, dict[str, np.ndarray], bool | None] | None:
    """Parse an AMC file laid out regularly (frames 1..N, the same bone lines in the same order each frame)
    with numpy; ``None`` when it is not, and the line-by-line parser must find what is wrong."""
    degrees: bool | None = None
    start = None
    for n, raw in enumerate(lines):
        s = raw.strip()
        if s.isdigit():
            start = n
            break
        if s.upper().startswith(":DEGREES"):
            degrees = True
        elif s.upper().startswith(":RADIANS"):
            degrees = False
    if start is None:
        return None
    body = [ln for ln in lines[start:] if ln.strip()]
    heads = [k for k, ln in enumerate(body[:200]) if ln.strip().isdigit()]
    period = heads[1] - heads[0] if len(heads) > 1 else len(body)
    if period < 1 or len(body) % period:
        return None
    frames = len(body) // period
    if [ln.strip() for ln in body[::period]] != [str(k) for k in range(1, frames + 1)]:
        return None
    values = {}
    for k in range(1, period):
        block = body[k::period]
        name = block[0].split(None, 1)[0]
        w = width.get(name, -1)
        if w < 0 or name in values:
            return None
        toks = " ".join(block).split()
        if len(toks) != frames * (w + 1):
            return None
        table = np.array(toks, dtype=object).reshape(frames, w + 1)
        if not (table[:, 0] == name).all():
            return None
        try:
            values[name] = table[:, 1:].astype(np.float64)
        except ValueError:
            return None
    if set(values) != {n for n, w in width.items() if w}:
        return None
    return frames, values, degrees


def _parse_amc(path: Path, asf: _Asf) -> _Amc:
    """Read every frame of an AMC file: numpy for regular files, else line by line, naming a bad line."""
    with open(path, encoding="latin-1") as fh:
        lines = fh.read().splitlines()
    width = {b.name: len(b.dof) for b in asf.bones[1:]}
    width["root"] = len(asf.root_order)
    fast = _amc_fast(lines, width)
    if fast is not None:
        return _Amc(*fast)
    degrees: bool | None = None
    rows: dict[str, list[list[str]]] = {name: [] for name, w in width.items() if w}
    number = 0
    seen: set[str] = set()
    frame_line = 0
    for n, raw in enumerate(lines, start=1):
        s = raw.strip()
        if not s or s[0] == "#":
            continue
        if s[0] == ":":
            word = s[1:].split()[0].upper() if len(s) > 1 else ""
            if word == "DEGREES":
                degrees = True
            elif word == "RADIANS":
                degrees = False
            continue
        if s.isdigit():
            if number and len(seen) != len(rows):
                missing = sorted(set(rows) - seen)
                msg = f"frame {number} lacks the bones {missing[:3]} (expected one line per bone)"
                raise _fail(path, frame_line, msg)
            frame_line = n
            if int(s) != number + 1 and not (number == 0 and int(s) == 0):
                raise _fail(path, n, f"expected frame number {number + 1}, got {s}")
            number += 1
            seen = set()
            continue
        if number == 0:
            raise _fail(path, n, f"expected a frame number before the bone values, got {s[:40]!r}")
        vals = s.split()
        name = vals.pop(0)
        if name not in width:
            raise _fail(path, n, f"unknown bone {name!r} (not in {asf.path.name})")
        if len(vals) != width[name]:
            msg = f"bone {name!r} has {width[name]} degrees of freedom in the ASF, got {len(vals)} values"
            raise _fail(path, n, msg)
        if name in seen:
            raise _fail(path, n, f"bone {name!r} twice in frame {number}")
        seen.add(name)
        rows[name].append(vals)
    if number == 0:
        raise _fail(path, None, "no frames (expected a frame number line, then one line per bone)")
    if len(seen) != len(rows):
        missing = sorted(set(rows) - seen)
        raise _fail(path, frame_line, f"the last frame ({number}) lacks the bones {missing[:3]}")
    values = {}
    for name, r in rows.items():
        try:
            values[name] = np.array(r, dtype=np.float64).reshape(len(r), width[name])
        except ValueError:
            for k, vals in enumerate(r):
                for v in vals:
                    try:
                        float(v)
                    except ValueError:
                        msg = f"bone {name!r}, frame {k + 1}: expected a number, got {v!r}"
                        raise _fail(path, None, msg) from None
            raise
    return _Amc(number, values, degrees)


def _euler(order: str, angles: np.ndarray, degrees: bool) -> Rotation:
    """Rotation applying ``angles[:, i]`` about the fixed axis ``order[i]`` in turn (extrinsic)."""
    return Rotation.from_euler(order.lower(), angles, degrees=degrees)


def _amc_fk(asf: _Asf, amc: _Amc) -> np.ndarray:
    t = len(next(iter(amc.values.values())))
    degrees = asf.degrees if amc.degrees is None else amc.degrees
    rot: list[np.ndarray] = []  # (T, 3, 3) world rotation of each bone
    pos: list[np.ndarray] = []  # (T, 3) world position of each joint
    for i, b in enumerate(asf.bones):
        root = i == 0
        dofs = asf.root_order if root else b.dof
        vals = amc.values.get("root" if root else b.name, np.zeros((t, 0)))
        trans = np.broadcast_to(asf.root_position, (t, 3)).copy() if root else None
        angles, order, extra = [], "", np.zeros(t)
        for k, d in enumerate(dofs):
            if d.startswith("r"):
                angles.append(vals[:, k])
                order += d[1]
            elif root and d.startswith("t"):
                trans[:, "xyz".index(d[1])] += vals[:, k]
            elif d == "l":  # length change along the bone (rare)
                extra = vals[:, k]
        axis, axis_order = (asf.root_orientation, asf.root_axis) if root else (b.axis, b.axis_order)
        if i not in asf.axes:
            asf.axes[i] = _euler(axis_order, axis[None], asf.degrees).as_matrix()[0]
        c = asf.axes[i]
        m = _euler(order, np.stack(angles, 1), degrees).as_matrix() if order else np.eye(3)[None]
        local = c @ m @ c.T  # (T, 3, 3): the dof rotation expressed in the bone's axis frame
        if root:
            rot.append(np.broadcast_to(local, (t, 3, 3)))
            pos.append(trans)
        else:
            r = rot[b.parent] @ local
            rot.append(r)
            pos.append(pos[b.parent] + (r @ b.direction) * (b.length + extra)[:, None])
    return (np.stack(pos, axis=1) * asf.length_unit).astype(np.float32)


def _asf_names(asf: _Asf) -> tuple[list[str], list[int]]:
    return _side_names([b.name for b in asf.bones]), [b.parent for b in asf.bones]


_FPS_IN_NAME = re.compile(r"^HDM_.+_\d+_(\d+)$", re.I)  # HDM05: HDM_<actor>_<class>_<nnn>_<fps>


def _amc_fps(path: Path, fps: float | None) -> float:
    if fps is not None:
        return float(fps)
    m = _FPS_IN_NAME.search(path.stem)
    return float(m.group(1)) if m else 120.0


def _find_asf(amc: Path) -> Path:
    cands = sorted(amc.parent.glob("*.asf")) + sorted(amc.parent.glob("*.ASF"))
    prefix = [c for c in cands if amc.stem.lower().startswith(c.stem.lower())]
    if prefix:
        return max(prefix, key=lambda c: len(c.stem))
    if len(cands) == 1:
        return cands[0]
    raise FileNotFoundError(
        f"{amc}: cannot tell its skeleton: expected one .asf beside it, or one whose name starts the .amc's "
        f"name (e.g. HDM_bd.asf for HDM_bd_..._120.amc), found {[c.name for c in cands] or 'none'}; pass asf="
    )


def _load_asf(path: Path) -> _Asf:
    return _parse_asf_cached(str(path), path.stat().st_mtime)


@names_file("Acclaim .amc")
def read_amc_file(
    path: PathLike, asf: PathLike | None = None, target_fps: float | None = None, fps: float | None = None
) -> tuple[np.ndarray, float]:
    """Joint positions of one AMC motion on its ASF skeleton, by forward kinematics.

    Args:
        path: The ``.amc`` file.
        asf: Its ``.asf`` skeleton; default the ``.asf`` beside it whose name starts the ``.amc``'s name, or
            the only one there.
        target_fps: Resample to this rate (nearest frame); ``None`` keeps every frame.
        fps: Frame rate of the file; default from a ``_<fps>`` name ending, else 120.

    Returns:
        ``(positions (T, 31, 3) float32 in metres for the HDM05/CMU skeleton (root, then the bones), fps)``.

    Raises:
        ValueError: A malformed file; the message names the file and the line.
    """
    p = _path(path)
    tfps = _check_fps(target_fps)
    skel = _load_asf(_path(asf, "asf") if asf is not None else _find_asf(p))
    src = _amc_fps(p, fps)
    amc = _parse_amc(p, skel)
    frames = _select_frames(amc.frames, src, tfps)
    amc.values = {k: v[frames] for k, v in amc.values.items()}
    return _amc_fk(skel, amc), (tfps or src)


class _AmcItem:
    def __init__(self, files: list[Path], asfs: list[Path], joints: list[str], parents: list[int],
                 target_fps: float | None, fps: list[float]) -> None:  # fmt: skip
        self.files, self.asfs, self.joints, self.parents = files, asfs, joints, parents
        self.target_fps, self.fps = target_fps, fps

    def __call__(self, i: int) -> np.ndarray:
        f = self.files[i]
        skel = _load_asf(self.asfs[i])
        names, parents = _asf_names(skel)
        if names != self.joints or parents != self.parents:
            raise ValueError(
                f"{f}: its skeleton {self.asfs[i].name} ({len(names)} bones) differs from the first file's "
                f"({len(self.joints)}); read files with different skeletons separately"
            )
        _layout_for("asf", names, parents)  # registers a skeleton's own layout in a spawned DataLoader worker
        amc = _parse_amc(f, skel)
        keep = _select_frames(amc.frames, self.fps[i], self.target_fps)
        amc.values = {k: v[keep] for k, v in amc.values.items()}
        return _amc_fk(skel, amc)[None]


# ---------------------------------------------------------------------------------------------------------
# folders, labels and the dataset
# ---------------------------------------------------------------------------------------------------------
def _files(p: Path, suffix: str) -> list[Path]:
    if not p.is_dir():
        return [p]
    return sorted(
        (f for f in p.rglob("*") if f.suffix.lower() == suffix and f.is_file()),
        key=lambda f: f.relative_to(p).as_posix(),
    )


def _natural(s: str) -> tuple[Any, ...]:
    return tuple(int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s))


def _folder_labels(root: Path, files: list[Path]) -> tuple[list[int], list[str] | None, dict[str, list[int]]]:
    """Labels from the folder each file lies in (when below ``root`` and there are at least two such folders),
    splits from ``train`` / ``test`` / ``val`` folders above them."""
    if not root.is_dir():
        return [-1] * len(files), None, {}
    rel = [f.relative_to(root).parts for f in files]
    split: dict[str, list[int]] = {}
    for i, r in enumerate(rel):
        if len(r) >= 3 and r[-3].lower() in _SPLIT_NAMES:
            split.setdefault(r[-3].lower(), []).append(i)
    folders = sorted({r[-2] for r in rel if len(r) >= 2}, key=_natural)
    if len(folders) < 2 or any(len(r) < 2 for r in rel):  # one subfolder (Bandai's data/) is a place, not a class
        return [-1] * len(files), None, split
    return [folders.index(r[-2]) for r in rel], folders, split


_HDM05_NAME = re.compile(r"^HDM_([a-z]+)_(.+)_\d+_\d+$", re.I)


def _class_names(folders: list[str], files: list[Path]) -> list[str]:
    """A numbered class folder takes the motion class its HDM05 file names share (``1`` -> depositFloorR)."""
    out = []
    for d in folders:
        names = {m.group(2) for f in files if f.parent.name == d and (m := _HDM05_NAME.match(f.stem))}
        out.append(names.pop() if len(names) == 1 else d)
    return out


def _finish(ds: SkeletonDataset, layout: str | Layout | None) -> SkeletonDataset:
    return ds if layout is None else ds.to_layout(layout)


def read_amc(
    path: PathLike,
    layout: str | Layout | None = None,
    asf: PathLike | None = None,
    target_fps: float | None = 30.0,
    fps: float | None = None,
) -> SkeletonDataset:
    """Read Acclaim AMC motions (HDM05, CMU): one ``.amc`` file or a folder tree of them.

    Each motion is driven on its actor's ``.asf`` skeleton: ``asf`` when given, else the ``.asf`` beside the
    file whose name starts the motion's name (``HDM_bd.asf`` for ``HDM_bd_..._120.amc``; CMU ``01.asf`` for
    ``01_02.amc``), else the only ``.asf`` there. Items are ``(1, T, V, 3)`` joint positions in metres (root,
    then each bone's far end; the HDM05/CMU skeleton is layout ``hdm05-31``), parsed on access.

    Labels come from class folders: when ``path`` is a folder and the files lie in subfolders, each file's
    folder is its class (numbered folders in numeric order; a numbered folder's name is replaced by the
    HDM05 motion class its files share, so ``classes[0]`` is ``depositFloorR``); a ``train`` / ``test``
    folder above the class folders gives the split (HDM05: 188 / 99 clips). Names are the file names without
    ``.amc``; ``meta`` holds ``actor`` (the ``.asf`` name), ``source_fps`` and ``fps``.

    Args:
        path: An ``.amc`` file, an ``.asf`` (then the ``.amc`` files beside it whose names start with its
            name, or all of them when none does), or a folder searched recursively.
        layout: ``None`` keeps the skeleton's own layout; a layout name (``"kinect20"``, ``"ntu25"``) converts.
        asf: The skeleton file for every motion; default found beside each motion.
        target_fps: Frame rate of the items: the frame nearest each target time is kept (exact decimation for
            120 -> 30 fps); ``None`` keeps every frame. Default 30, the Kinect rate.
        fps: Frame rate of the files; default from a ``_<fps>`` name ending (HDM05 ``_120``), else 120.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset].
    """
    p = _path(path)
    tfps = _check_fps(target_fps)
    if p.is_file() and p.suffix.lower() == ".asf":
        beside = sorted(p.parent.glob("*.amc"))
        files = [f for f in beside if f.stem.lower().startswith(p.stem.lower())] or beside
        asf, root = asf or p, p.parent
    else:
        files, root = _files(p, ".amc"), p
    if not files:
        raise ValueError(f"path: no .amc files in {p}")
    asfs = [_path(asf, "asf") if asf is not None else _find_asf(f) for f in files]
    first = _load_asf(asfs[0])
    joints, parents = _asf_names(first)
    lay = _layout_for("asf", joints, parents)
    src = [_amc_fps(f, fps) for f in files]
    labels, folders, split = _folder_labels(root, files)
    ds = SkeletonDataset(
        _Lazy(len(files), _AmcItem(files, asfs, joints, parents, tfps, src)),
        labels,
        [f.stem for f in files],
        lay,
        split,
        _class_names(folders, files) if folders else None,
        {
            "actor": [a.stem for a in asfs],
            "source_fps": np.array(src),
            "fps": np.array([tfps or s for s in src]),
        },
    )
    return _finish(ds, layout)


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


def _content_classes(f: Path) -> list[str] | None:
    for d in (f.parent, f.parent.parent, f.parent.parent.parent):
        cfg = d / "cfg" / "content_label.txt"
        if cfg.is_file():
            return [re.sub(r"^dataset-\d+_", "", ln.strip()) for ln in cfg.read_text().splitlines() if ln.strip()]
    return None


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
    from the hierarchy ([`layout_from_hierarchy`][slimkit.mocap.layout_from_hierarchy]). Names are the file names
    without ``.bvh``.

    Labels: a sidecar ``<name>.json`` with ``content`` (Bandai-Namco) gives the label, with class names from
    a ``cfg/content_label.txt`` found up to two folders above (its order is the content index; on the
    Bandai-Namco set 17 names, of which the 64 clips use 16), and ``style`` goes to ``meta``; without
    sidecars, class folders as in [`read_amc`][slimkit.mocap.read_amc]; else ``-1``. ``meta`` holds ``source_fps`` and
    ``fps``.

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
    files = _files(p, ".bvh")
    if not files:
        raise ValueError(f"path: no .bvh files in {p}")
    if unit != "auto":
        _bvh_scale(_Bvh([], 1.0, 1, None), p, unit)  # checks the argument now, without reading a file
    joints, parents = _bvh_names(_parse_bvh(files[0], header_only=True), end_sites)
    lay = _layout_for("bvh", joints, parents)
    src = [_bvh_fps(f) for f in files]
    sidecars = [f.with_suffix(".json") for f in files]
    meta: dict[str, Any] = {"source_fps": np.array(src), "fps": np.array([tfps or s for s in src])}
    if all(s.is_file() for s in sidecars):
        labels, styles = [], []
        for s in sidecars:
            try:
                d = json.loads(s.read_text())
                labels.append(int(d["content"]))
                styles.append(int(d.get("style", -1)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{s}: expected a JSON object with an int 'content' (and 'style'): {e}") from None
        classes = _content_classes(files[0])
        if classes is not None and max(labels) >= len(classes):
            classes = None
        split: dict[str, list[int]] = {}
        meta["style"] = np.array(styles)
        style_file = files[0].parent.parent / "cfg" / "style_label.txt"
        if style_file.is_file():
            names = [re.sub(r"^dataset-\d+_", "", ln.strip()) for ln in style_file.read_text().splitlines()]
            meta["style_name"] = [names[s] if 0 <= s < len(names) else "" for s in styles]
    else:
        labels, folders, split = _folder_labels(p, files)
        classes = folders
    ds = SkeletonDataset(
        _Lazy(len(files), _BvhItem(files, joints, parents, tfps, unit, end_sites)),
        labels,
        [f.stem for f in files],
        lay,
        split,
        classes,
        meta,
    )
    return _finish(ds, layout)


# ---------------------------------------------------------------------------------------------------------
# detection for slimkit.data.load
# ---------------------------------------------------------------------------------------------------------
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
    return read_bvh if kind == "bvh" else read_amc


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
    from .data import _SUFFIXES

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
