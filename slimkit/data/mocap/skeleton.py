"""What the BVH and ASF/AMC readers share: joint names in slimkit's convention and a
[`Layout`][slimkit.layouts.Layout] built from a hierarchy, the frame rate and nearest-frame resampling, length
units and errors that name the file and line. Forward kinematics itself differs by format (BVH channels, ASF
axes and dofs) and lives in each reader."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...layouts import Layout, get_layout, list_layouts, register_layout

__all__ = ["layout_from_hierarchy"]

_INCH = 0.0254
_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": _INCH}


def _fail(path: Path, line: int | None, msg: str) -> ValueError:
    return ValueError(f"{path}: line {line}: {msg}" if line is not None else f"{path}: {msg}")



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

    Joints whose name carries a side (``l_``/``r_`` after [`read_bvh`][slimkit.data.mocap.read_bvh]'s renaming) form
    limbs: each chain of one side hanging off a centre joint is a limb, the one attached nearer the root the leg, the
    other the arm (extra chains join the arm). The centre is the joint the legs hang from; the spine runs from there to
    the joint the arms hang from.

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

