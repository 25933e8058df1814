"""Skeleton layouts: joint names, the kinematic tree, left/right pairs and body parts.

A [`Layout`][slimkit.layouts.Layout] is what turns a bare ``(T, V, C)`` array into a skeleton: it says which joint is
which, how
they connect (``parents``, a tree rooted at one joint), how to mirror them, which joints make the centre used
for centring, and how they group into the body parts that semantic tube masking and part tokens use.

Built-in layouts (``list_layouts()``): ``ntu25`` (Kinect v2, NTU RGB+D), ``kinect20`` (Kinect v1: NW-UCLA,
MSR Action3D, UTKinect), ``coco17``, ``openpose18``, ``h36m17`` (MotionBERT order), ``penn13`` (Penn Action), and
the motion capture skeletons ``hdm05-31`` (HDM05 / CMU Acclaim ASF) and ``bvh-bandai22`` (Bandai-Namco BVH),
which convert to ``kinect20`` and ``ntu25`` (see [`slimkit.data.mocap`][slimkit.data.mocap]).

Conventions:

* Left and right are always the *person's own* sides. Penn Action's documentation names the image-left side
  "left"; ``penn13`` names its joints by the person's side instead, so its odd joints are ``r_*``.
* ``ntu25`` hands follow the Kinect v2 SDK / pyskl tree: hand tip and thumb are both children of the hand
  (MAMP's bone list instead parents the hand tip to the thumb). The tree is rooted at ``spine_base``.
* Missing joints are ``NaN`` in every array this module returns; an all-zero joint in the input is missing too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from ._arrays import missing_joints

__all__ = [
    "Layout",
    "get_layout",
    "register_layout",
    "list_layouts",
    "convert_layout",
    "register_conversion",
]

PART_ORDER = ("torso", "left_arm", "right_arm", "left_leg", "right_leg", "head")


@dataclass(frozen=True, eq=False)
class Layout:
    """A named skeleton layout.

    Args:
        name: Registry name, e.g. ``"ntu25"``.
        joints: Joint names in array order; ``l_``/``r_`` prefixes mark the person's left/right side.
        parents: Parent index of each joint, ``-1`` for the single root.
        parts: Body part name -> joint indices. Every joint belongs to exactly one part.
        center: Joints whose mean is the body centre used for centring.
        spine: ``(bottom joints, top joints)`` used to align the body upright, or ``None``.
        shoulders: ``(left, right)`` shoulder joints used to align the body facing the camera, or ``None``.
        flip_pairs: Left/right joint pairs swapped by mirroring; derived from ``l_``/``r_`` names when empty.
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    parts: dict[str, tuple[int, ...]]
    center: tuple[int, ...]
    spine: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    shoulders: tuple[int, int] | None = None
    flip_pairs: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        v = len(self.joints)
        if v == 0:
            raise ValueError(f"layout {self.name!r}: joints must not be empty")
        if len(set(self.joints)) != v:
            raise ValueError(f"layout {self.name!r}: joint names must be unique")
        if len(self.parents) != v:
            raise ValueError(f"layout {self.name!r}: parents has {len(self.parents)} entries, expected {v}")
        roots = [j for j, p in enumerate(self.parents) if p == -1]
        if len(roots) != 1:
            raise ValueError(f"layout {self.name!r}: expected exactly one root (parent -1), got {roots}")
        for j, p in enumerate(self.parents):
            if p != -1 and not 0 <= p < v:
                raise ValueError(f"layout {self.name!r}: parent of joint {j} is {p}, outside 0..{v - 1}")
        if len(self.topological_order) != v:
            raise ValueError(f"layout {self.name!r}: parents do not form a tree connected to the root")
        seen = sorted(j for idx in self.parts.values() for j in idx)
        if seen != list(range(v)):
            raise ValueError(f"layout {self.name!r}: parts must cover every joint exactly once, got {seen}")
        for j in self.center:
            if not 0 <= j < v:
                raise ValueError(f"layout {self.name!r}: center joint {j} outside 0..{v - 1}")
        if not self.flip_pairs:
            object.__setattr__(self, "flip_pairs", _pairs_from_names(self.joints))
        for a, b in self.flip_pairs:
            if not (0 <= a < v and 0 <= b < v) or a == b:
                raise ValueError(f"layout {self.name!r}: bad flip pair ({a}, {b})")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    @property
    def bones(self) -> list[tuple[int, int]]:
        """``(child, parent)`` pairs, one per non-root joint, in topological order."""
        return [(j, self.parents[j]) for j in self.topological_order if self.parents[j] != -1]

    @property
    def topological_order(self) -> list[int]:
        """Joints in breadth-first order from the root: every parent comes before its children."""
        children: dict[int, list[int]] = {}
        for j, p in enumerate(self.parents):
            children.setdefault(p, []).append(j)
        order, queue = [], deque(children.get(-1, []))
        seen: set[int] = set()
        while queue:
            j = queue.popleft()
            if j in seen:
                break
            seen.add(j)
            order.append(j)
            queue.extend(children.get(j, []))
        return order

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation ``perm`` such that ``x[..., perm, :]`` swaps left and right joints."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    @property
    def part_names(self) -> list[str]:
        return list(self.parts)

    @property
    def part_index(self) -> np.ndarray:
        """``(V,)`` int array: the part number of each joint (order of ``parts``)."""
        out = np.empty(self.num_joints, dtype=np.int64)
        for i, idx in enumerate(self.parts.values()):
            out[list(idx)] = i
        return out

    def index(self, joint: str) -> int:
        """Index of a joint by name."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"layout {self.name!r} has no joint {joint!r}; joints: {list(self.joints)}") from None

    def __repr__(self) -> str:
        return f"Layout({self.name!r}, V={self.num_joints}, parts={self.part_names})"


def _pairs_from_names(joints: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    pairs = []
    for i, n in enumerate(joints):
        if n.startswith("l_") and ("r_" + n[2:]) in joints:
            pairs.append((i, joints.index("r_" + n[2:])))
    return tuple(pairs)


def _mirror(name: str) -> str:
    """The right-side twin of a left-side joint name (``l_knee`` -> ``r_knee``); other names are unchanged."""
    return "r_" + name[2:] if name.startswith("l_") else name


def _chain(*names: str) -> dict[str, str]:
    """``_chain(a, b, c)`` -> ``{b: a, c: b}``: each joint's parent is the one before it."""
    return {child: parent for parent, child in zip(names, names[1:], strict=False)}


def _limb(*names: str) -> dict[str, str]:
    """``_chain`` of left-side joints, and the same chain on the right side."""
    return {**_chain(*names), **_chain(*map(_mirror, names))}


def _layout(name: str, joints: str, tree: dict[str, str], torso: str, arm: str, leg: str, center: str,
            spine: tuple[str, str], shoulder: str = "l_shoulder", head: str = "") -> Layout:
    """Build a layout from joint names: ``joints`` in array order, ``tree`` child -> parent (the root has none),
    the ``torso`` joints, the left ``arm`` and ``leg`` (the right ones are their mirror), an optional ``head``
    part, the ``center`` joints, the ``spine`` (bottom joints, top joints) and the left ``shoulder`` joint."""
    names = tuple(joints.split())
    idx = {n: i for i, n in enumerate(names)}

    def ids(group: str) -> tuple[int, ...]:
        return tuple(idx[n] for n in group.split())

    def mirror(group: str) -> str:
        return " ".join(map(_mirror, group.split()))

    parts = {"torso": torso, "left_arm": arm, "right_arm": mirror(arm), "left_leg": leg, "right_leg": mirror(leg)}
    if head:
        parts["head"] = head
    return Layout(
        name=name,
        joints=names,
        parents=tuple(idx[tree[n]] if n in tree else -1 for n in names),
        parts={p: ids(group) for p, group in parts.items()},
        center=ids(center),
        spine=(ids(spine[0]), ids(spine[1])),
        shoulders=(idx[shoulder], idx[_mirror(shoulder)]),
    )


_NTU25 = _layout(
    "ntu25",
    "spine_base spine_mid neck head l_shoulder l_elbow l_wrist l_hand r_shoulder r_elbow r_wrist r_hand "
    "l_hip l_knee l_ankle l_foot r_hip r_knee r_ankle r_foot spine_shoulder l_hand_tip l_thumb r_hand_tip r_thumb",
    {
        **_chain("spine_base", "spine_mid", "spine_shoulder", "neck", "head"),
        **_limb("spine_shoulder", "l_shoulder", "l_elbow", "l_wrist", "l_hand", "l_hand_tip"),
        **_limb("l_hand", "l_thumb"),
        **_limb("spine_base", "l_hip", "l_knee", "l_ankle", "l_foot"),
    },
    torso="spine_base spine_mid neck head spine_shoulder",
    arm="l_shoulder l_elbow l_wrist l_hand l_hand_tip l_thumb",
    leg="l_hip l_knee l_ankle l_foot",
    center="spine_mid",
    spine=("spine_base", "spine_shoulder"),
)

_KINECT20 = _layout(
    "kinect20",
    "hip_center spine shoulder_center head l_shoulder l_elbow l_wrist l_hand r_shoulder r_elbow r_wrist r_hand "
    "l_hip l_knee l_ankle l_foot r_hip r_knee r_ankle r_foot",
    {
        **_chain("hip_center", "spine", "shoulder_center", "head"),
        **_limb("shoulder_center", "l_shoulder", "l_elbow", "l_wrist", "l_hand"),
        **_limb("hip_center", "l_hip", "l_knee", "l_ankle", "l_foot"),
    },
    torso="hip_center spine shoulder_center head",
    arm="l_shoulder l_elbow l_wrist l_hand",
    leg="l_hip l_knee l_ankle l_foot",
    center="spine",
    spine=("hip_center", "shoulder_center"),
)

_COCO17 = _layout(
    "coco17",
    "nose l_eye r_eye l_ear r_ear l_shoulder r_shoulder l_elbow r_elbow l_wrist r_wrist "
    "l_hip r_hip l_knee r_knee l_ankle r_ankle",
    {
        **_limb("nose", "l_eye", "l_ear"),
        **_limb("nose", "l_shoulder", "l_elbow", "l_wrist"),
        **_limb("l_shoulder", "l_hip", "l_knee", "l_ankle"),
    },
    torso="l_shoulder r_shoulder l_hip r_hip",
    arm="l_elbow l_wrist",
    leg="l_knee l_ankle",
    head="nose l_eye r_eye l_ear r_ear",
    center="l_hip r_hip",
    spine=("l_hip r_hip", "l_shoulder r_shoulder"),
)

_OPENPOSE18 = _layout(
    "openpose18",
    "nose neck r_shoulder r_elbow r_wrist l_shoulder l_elbow l_wrist r_hip r_knee r_ankle "
    "l_hip l_knee l_ankle r_eye l_eye r_ear l_ear",
    {
        "nose": "neck",
        **_limb("nose", "l_eye", "l_ear"),
        **_limb("neck", "l_shoulder", "l_elbow", "l_wrist"),
        **_limb("l_shoulder", "l_hip", "l_knee", "l_ankle"),
    },
    torso="neck l_shoulder r_shoulder l_hip r_hip",
    arm="l_elbow l_wrist",
    leg="l_knee l_ankle",
    head="nose l_eye r_eye l_ear r_ear",
    center="l_hip r_hip",
    spine=("l_hip r_hip", "neck"),
)

_H36M17 = _layout(
    "h36m17",
    "root r_hip r_knee r_ankle l_hip l_knee l_ankle belly neck nose head "
    "l_shoulder l_elbow l_wrist r_shoulder r_elbow r_wrist",
    {
        **_chain("root", "belly", "neck", "nose", "head"),
        **_limb("root", "l_hip", "l_knee", "l_ankle"),
        **_limb("neck", "l_shoulder", "l_elbow", "l_wrist"),
    },
    torso="root belly neck nose head",
    arm="l_shoulder l_elbow l_wrist",
    leg="l_hip l_knee l_ankle",
    center="root",
    spine=("root", "neck"),
)

# Penn Action's documented order with "left" meaning the viewer's left: joint 1 is the person's right shoulder.
_PENN13 = _layout(
    "penn13",
    "head r_shoulder l_shoulder r_elbow l_elbow r_wrist l_wrist r_hip l_hip r_knee l_knee r_ankle l_ankle",
    {
        **_limb("head", "l_shoulder", "l_elbow", "l_wrist"),
        **_limb("l_shoulder", "l_hip", "l_knee", "l_ankle"),
    },
    torso="head l_shoulder r_shoulder l_hip r_hip",
    arm="l_elbow l_wrist",
    leg="l_knee l_ankle",
    center="l_hip r_hip",
    spine=("l_hip r_hip", "l_shoulder r_shoulder"),
)

# Motion capture skeletons (read by slimkit.data.mocap); their conversions to the Kinect layouts are below.
# HDM05 / CMU Acclaim skeleton: the root (pelvis) and 30 bones in ASF order; a bone's joint is its far end
# (``l_femur`` is the left knee, ``l_clavicle`` the left shoulder, ``head`` the top of the head).
_HDM05_31 = _layout(
    "hdm05-31",
    "root l_hipjoint l_femur l_tibia l_foot l_toes r_hipjoint r_femur r_tibia r_foot r_toes lowerback upperback "
    "thorax lowerneck upperneck head l_clavicle l_humerus l_radius l_wrist l_hand l_fingers l_thumb "
    "r_clavicle r_humerus r_radius r_wrist r_hand r_fingers r_thumb",
    {
        **_limb("root", "l_hipjoint", "l_femur", "l_tibia", "l_foot", "l_toes"),
        **_chain("root", "lowerback", "upperback", "thorax", "lowerneck", "upperneck", "head"),
        **_limb("thorax", "l_clavicle", "l_humerus", "l_radius", "l_wrist", "l_hand", "l_fingers"),
        **_limb("l_wrist", "l_thumb"),
    },
    torso="root lowerback upperback thorax lowerneck upperneck head",
    arm="l_clavicle l_humerus l_radius l_wrist l_hand l_fingers l_thumb",
    leg="l_hipjoint l_femur l_tibia l_foot l_toes",
    center="root",
    spine=("root", "thorax"),
    shoulder="l_clavicle",
)

# Bandai-Namco Research Motiondataset BVH (22 joints): a BVH joint sits where its OFFSET puts it, so
# ``l_shoulder`` is the inner end of the clavicle, ``l_upperarm`` the shoulder, ``l_hand`` the wrist, ``l_toes``
# the ball of the foot; ``joint_root`` is a ground-level helper under the hips.
_BVH_BANDAI22 = _layout(
    "bvh-bandai22",
    "joint_root hips spine chest neck head l_shoulder l_upperarm l_lowerarm l_hand r_shoulder r_upperarm "
    "r_lowerarm r_hand l_upperleg l_lowerleg l_foot l_toes r_upperleg r_lowerleg r_foot r_toes",
    {
        **_chain("joint_root", "hips", "spine", "chest", "neck", "head"),
        **_limb("chest", "l_shoulder", "l_upperarm", "l_lowerarm", "l_hand"),
        **_limb("hips", "l_upperleg", "l_lowerleg", "l_foot", "l_toes"),
    },
    torso="joint_root hips spine chest neck head",
    arm="l_shoulder l_upperarm l_lowerarm l_hand",
    leg="l_upperleg l_lowerleg l_foot l_toes",
    center="hips",
    spine=("hips", "neck"),
    shoulder="l_upperarm",
)

_REGISTRY: dict[str, Layout] = {
    lay.name: lay for lay in (_NTU25, _KINECT20, _COCO17, _OPENPOSE18, _H36M17, _PENN13, _HDM05_31, _BVH_BANDAI22)
}


def register_layout(layout: Layout, overwrite: bool = False) -> Layout:
    """Add a user-defined layout to the registry so that configs can name it."""
    if not isinstance(layout, Layout):
        raise TypeError(f"layout must be a slimkit.layouts.Layout, got {type(layout).__name__}")
    if layout.name in _REGISTRY and not overwrite:
        raise ValueError(f"a layout named {layout.name!r} is already registered; pass overwrite=True")
    _REGISTRY[layout.name] = layout
    return layout


def get_layout(name: str | Layout) -> Layout:
    """Return the layout registered as ``name`` (a [`Layout`][slimkit.layouts.Layout] is passed through)."""
    if isinstance(name, Layout):
        return name
    if not isinstance(name, str):
        raise TypeError(f"layout must be a name or a Layout, got {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown layout {name!r}; known layouts: {sorted(_REGISTRY)}. "
            "Define your own with slimkit.layouts.Layout(...) and register_layout()."
        ) from None


def list_layouts() -> list[str]:
    """Names of all registered layouts."""
    return sorted(_REGISTRY)


# Conversion rules: target joint -> source joints averaged. Joints not named here are copied by name; target
# joints with no rule and no joint of the same name in the source are missing (NaN).
_CONVERSIONS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("coco17", "h36m17"): {
        "root": ("l_hip", "r_hip"),
        "belly": ("l_hip", "r_hip", "l_shoulder", "r_shoulder"),
        "neck": ("l_shoulder", "r_shoulder"),
        "head": ("l_eye", "r_eye"),
    },
    ("coco17", "openpose18"): {"neck": ("l_shoulder", "r_shoulder")},
    ("openpose18", "coco17"): {},
    ("penn13", "coco17"): {"nose": ("head",)},
    ("ntu25", "kinect20"): {
        "hip_center": ("spine_base",),
        "spine": ("spine_mid",),
        "shoulder_center": ("spine_shoulder",),
    },
    ("kinect20", "ntu25"): {
        "spine_base": ("hip_center",),
        "spine_mid": ("spine",),
        "spine_shoulder": ("shoulder_center",),
    },
}


def register_conversion(source: str, target: str, rules: dict[str, tuple[str, ...]]) -> None:
    """Register how to build ``target`` joints from ``source`` joints (``{target_joint: (source_joints...)}``)."""
    src, tgt = get_layout(source), get_layout(target)
    for t, s in rules.items():
        tgt.index(t)
        for n in s:
            src.index(n)
    _CONVERSIONS[(src.name, tgt.name)] = {t: tuple(s) for t, s in rules.items()}


def conversion_matrix(source: str | Layout, target: str | Layout) -> np.ndarray:
    """``(V_target, V_source)`` averaging weights; an all-zero row marks a joint the source lacks."""
    src, tgt = get_layout(source), get_layout(target)
    key = (src.name, tgt.name)
    if key not in _CONVERSIONS:
        known = sorted(f"{a}->{b}" for a, b in _CONVERSIONS)
        raise ValueError(f"no conversion from {src.name!r} to {tgt.name!r}; known: {known}")
    rules = _CONVERSIONS[key]
    w = np.zeros((tgt.num_joints, src.num_joints), dtype=np.float64)
    for i, name in enumerate(tgt.joints):
        sources = rules.get(name, (name,) if name in src.joints else ())
        for s in sources:
            w[i, src.index(s)] = 1.0 / len(sources)
    return w


def convert_layout(x, source: str | Layout, target: str | Layout):
    """Convert joints ``(..., V_source, C)`` to ``(..., V_target, C)``.

    Joints the target has and the source lacks come out ``NaN`` (missing); a joint derived from a missing
    source joint (NaN or all-zero) is missing too. Works on numpy arrays and torch tensors.
    """
    src = get_layout(source)
    w = conversion_matrix(source, target)
    is_torch = isinstance(x, torch.Tensor)
    a = x.detach().cpu().numpy() if is_torch else np.asarray(x)
    if a.ndim < 2 or a.shape[-2] != src.num_joints:
        raise ValueError(
            f"x: expected shape (..., {src.num_joints}, C) for layout {src.name!r}, got {tuple(a.shape)}"
        )
    a = a.astype(np.float32 if a.dtype != np.float64 else np.float64, copy=True)
    missing = missing_joints(a)
    a[missing] = np.nan
    out = np.einsum("ts,...sc->...tc", w.astype(a.dtype), np.nan_to_num(a, nan=0.0))
    # A target joint is present only when all of its source joints are present.
    used = w > 0
    absent = (missing[..., None, :] & used).any(-1) | ~used.any(-1)
    out[absent] = np.nan
    return torch.from_numpy(out).to(x.device) if is_torch else out


# ---------------------------------------------------------------------------------------------------------
# Conversions of the motion capture skeletons to the Kinect layouts.
# ---------------------------------------------------------------------------------------------------------
def _sided(rules: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Rules written for the left side (``l_``), repeated for the right (``r_``)."""
    out = dict(rules)
    for t, s in rules.items():
        if t.startswith("l_"):
            out[_mirror(t)] = tuple(map(_mirror, s))
    return out


# Nearest joints by name (docs/concepts/data-formats.md has the table); a pair averages two joints.
_KINECT_LIMBS_HDM05 = {
    "l_shoulder": ("l_clavicle",), "l_elbow": ("l_humerus",), "l_wrist": ("l_radius",), "l_hand": ("l_wrist",),
    "l_hip": ("l_hipjoint",), "l_knee": ("l_femur",), "l_ankle": ("l_tibia",), "l_foot": ("l_foot",),
}  # fmt: skip
_KINECT_LIMBS_BANDAI = {
    "l_shoulder": ("l_upperarm",), "l_elbow": ("l_lowerarm",), "l_wrist": ("l_hand",), "l_hand": ("l_hand",),
    "l_hip": ("l_upperleg",), "l_knee": ("l_lowerleg",), "l_ankle": ("l_foot",), "l_foot": ("l_toes",),
}  # fmt: skip
_CONVERSIONS.update({
    ("hdm05-31", "kinect20"): _sided({
        "hip_center": ("root",), "spine": ("root", "lowerback"), "shoulder_center": ("thorax",),
        "head": ("upperneck", "head"), **_KINECT_LIMBS_HDM05,
    }),
    ("hdm05-31", "ntu25"): _sided({
        "spine_base": ("root",), "spine_mid": ("upperback",), "spine_shoulder": ("thorax",),
        "neck": ("lowerneck",), "head": ("upperneck", "head"), **_KINECT_LIMBS_HDM05,
        "l_hand_tip": ("l_fingers",), "l_thumb": ("l_thumb",),
    }),
    ("bvh-bandai22", "kinect20"): _sided({
        "hip_center": ("hips",), "spine": ("hips", "spine"), "shoulder_center": ("neck",), "head": ("head",),
        **_KINECT_LIMBS_BANDAI,
    }),
    ("bvh-bandai22", "ntu25"): _sided({
        "spine_base": ("hips",), "spine_mid": ("chest",), "spine_shoulder": ("neck",),
        "neck": ("neck", "head"), "head": ("head",), **_KINECT_LIMBS_BANDAI,
        "l_hand_tip": (), "l_thumb": (),
    }),
})  # fmt: skip
