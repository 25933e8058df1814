"""Spatial augmentations: rigid rotation, uniform scale, bone-length-preserving limb perturbation, mirror and
jitter (the default pipeline, [`default_augmentation`][slimkit.transforms.default_augmentation]), and shear,
per-axis scale and per-bone length changes, which change body proportions. Each draws its parameters per sample
and keeps missing joints missing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..layouts import Layout, get_layout
from .compose import Compose, Transform
from .random import Generator, _normal, _uniform

__all__ = [
    "RandomRotation",
    "RandomScale",
    "RandomLimbPerturbation",
    "RandomBoneLength",
    "Mirror",
    "RandomMirror",
    "RandomJitter",
    "RandomShear",
    "RandomAxisScale",
    "default_augmentation",
    "bone_lengths",
]


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name}: expected a non-negative float, got {value!r}")
    return float(value)


def _rows(v: torch.Tensor) -> torch.Tensor:
    """``(N,)`` or ``(N, C)`` per-sample parameters -> ``(N, 1, 1, 1, 1 or C)``, broadcastable against
    ``(N, M, T, V, C)``."""
    return v.reshape(v.shape[:1] + (1, 1, 1) + (v.shape[1:] or (1,)))


def _rotation_matrices(angles: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` Euler angles (x, y, z) -> ``(..., 3, 3)`` rotation ``Rz @ Ry @ Rx``."""
    cx, cy, cz = torch.cos(angles).unbind(-1)
    sx, sy, sz = torch.sin(angles).unbind(-1)
    one, zero = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).view(*cx.shape, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).view(*cx.shape, 3, 3)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).view(*cx.shape, 3, 3)
    return rz @ ry @ rx


def _axis_angle(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues: unit ``axis (..., 3)`` and ``angle (...)`` -> ``(..., 3, 3)``."""
    kx, ky, kz = axis.unbind(-1)
    zero = torch.zeros_like(kx)
    k = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).view(*kx.shape, 3, 3)
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device).expand_as(k)
    s, c = torch.sin(angle)[..., None, None], torch.cos(angle)[..., None, None]
    return eye + s * k + (1 - c) * (k @ k)


def _rotation_2d(angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([c, -s, s, c], -1).view(*angle.shape, 2, 2)


def _apply_linear(x: torch.Tensor, mat: torch.Tensor) -> torch.Tensor:
    """``x (N, M, T, V, C) @ mat (N, C, C)^T`` per sample; NaN stays within its joint."""
    return torch.einsum("nmtvc,ndc->nmtvd", x, mat.to(x.dtype))


def _tree_levels(layout: Layout) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Joints grouped by depth in the kinematic tree (root first) with their parents, so that each level of a
    forward-kinematics walk is one vectorised step."""
    depth: dict[int, int] = {}
    for j in layout.topological_order:
        p = layout.parents[j]
        depth[j] = 0 if p < 0 else depth[p] + 1
    levels = []
    for d in range(max(depth.values()) + 1):
        js = [j for j in layout.topological_order if depth[j] == d]
        levels.append((torch.tensor(js), torch.tensor([max(layout.parents[j], 0) for j in js])))
    return levels


def _rebuild_tree(x: torch.Tensor, levels: list[tuple[torch.Tensor, torch.Tensor]], bone_fn: Any) -> torch.Tensor:
    """Forward kinematics: rebuild ``x (N, M, T, V, C)`` from the root down with every bone vector (child minus
    parent) replaced by ``bone_fn(bone (N, M, T, J, C), joints (J,))`` and attached to its parent's new position.

    Where a parent joint is missing in a frame, its child hangs from the nearest valid ancestor; a joint with no
    valid ancestor stays where it is; missing joints stay missing.
    """
    dev = x.device
    valid = torch.isfinite(x).all(-1, keepdim=True)  # (N, M, T, V, 1)
    zero = torch.zeros((), dtype=x.dtype, device=dev)
    new = x.clone()
    # pivot = nearest valid joint on the path from the root (old and new position), per frame
    piv_old = torch.where(valid, x, zero)
    piv_new = piv_old.clone()
    has = valid.clone()
    for level_j, level_p in levels[1:]:
        j, p = level_j.to(dev), level_p.to(dev)
        old = x[:, :, :, j]
        ok = valid[:, :, :, j]
        moved = piv_new[:, :, :, p] + bone_fn(old - piv_old[:, :, :, p], j)
        nj = torch.where(has[:, :, :, p], moved, old)
        new[:, :, :, j] = nj
        piv_old[:, :, :, j] = torch.where(ok, old, piv_old[:, :, :, p])
        piv_new[:, :, :, j] = torch.where(ok, nj, piv_new[:, :, :, p])
        has[:, :, :, j] = has[:, :, :, p] | ok
    return new


class RandomRotation(Transform):
    """Rigid rotation about the origin: 3-D Euler angles ``U[-max_angle, max_angle]`` per axis (MAMP's
    augmentation), or one in-plane angle for 2-D keypoints. Bone lengths are preserved.

    Args:
        max_angle: Largest angle per axis, radians.
    """

    def __init__(self, max_angle: float = 0.3) -> None:
        self.max_angle = _non_negative(max_angle, "max_angle")

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        n, c = x.shape[0], x.shape[-1]
        if c not in (2, 3):
            raise ValueError(f"x: RandomRotation expects C = 2 or 3 coordinates, got C = {c}")
        k = 3 if c == 3 else 1
        a = (_uniform(generator, (n, k), x.device) * 2 - 1) * self.max_angle
        mat = _rotation_matrices(a.double()) if c == 3 else _rotation_2d(a[:, 0].double())
        return _apply_linear(x, mat)


class _RandomScaling(Transform):
    """Scaling by factors ``U[min_scale, max_scale]`` drawn per sample, and per axis when ``per_axis``."""

    per_axis = False

    def __init__(self, min_scale: float, max_scale: float) -> None:
        if not 0 < min_scale <= max_scale:
            raise ValueError(
                f"min_scale, max_scale: expected 0 < min_scale <= max_scale, got {min_scale}, {max_scale}"
            )
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        shape = (x.shape[0], x.shape[-1]) if self.per_axis else (x.shape[0],)
        u = _uniform(generator, shape, x.device)
        s = self.min_scale + (self.max_scale - self.min_scale) * u
        return x * _rows(s).to(x.dtype)


class RandomScale(_RandomScaling):
    """Uniform scaling by ``s ~ U[min_scale, max_scale]`` per sample (all bones scale alike).

    Args:
        min_scale: Smallest factor.
        max_scale: Largest factor.
    """

    def __init__(self, min_scale: float = 0.9, max_scale: float = 1.1) -> None:
        super().__init__(min_scale, max_scale)


class RandomLimbPerturbation(Transform):
    """Bone-length-preserving limb perturbation: each bone of the chosen parts is rotated by a small random
    rotation about its parent joint, and the rotation is carried down the kinematic tree (walked from the
    root in ``layout.topological_order``), so the whole sub-limb follows, as in forward kinematics.

    Every bone keeps its length exactly; only joint angles change. The perturbation is fixed over time per
    sample. Where a parent joint is missing in a frame, its child pivots about the nearest valid ancestor;
    a joint with no valid ancestor stays where it is.

    Args:
        layout: Layout name or [`Layout`][slimkit.layouts.Layout].
        max_angle: Largest rotation per bone, radians (axis uniformly random in 3-D, in-plane in 2-D).
        parts: Body parts whose bones move (a bone belongs to its child joint's part). Default: every part
            except ``"torso"``.
    """

    def __init__(
        self, layout: str | Layout, max_angle: float = 0.15, parts: Sequence[str] | None = None
    ) -> None:
        self.layout = get_layout(layout)
        self.max_angle = _non_negative(max_angle, "max_angle")
        names = [p for p in self.layout.parts if p != "torso"] if parts is None else list(parts)
        unknown = [p for p in names if p not in self.layout.parts]
        if unknown:
            raise ValueError(
                f"parts: {unknown} not in layout {self.layout.name!r} parts {self.layout.part_names}"
            )
        self.parts = names
        moving = np.zeros(self.layout.num_joints, dtype=bool)
        for p in names:
            moving[list(self.layout.parts[p])] = True
        self._moving = moving
        self._levels = _tree_levels(self.layout)

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        lay = self.layout
        n, m, t, v, c = x.shape
        if v != lay.num_joints or c not in (2, 3):
            raise ValueError(
                f"x: expected (..., {lay.num_joints}, 2 or 3) for layout {lay.name!r}, got {tuple(x.shape)}"
            )
        dev = x.device
        angle = (_uniform(generator, (n, v), dev) * 2 - 1).double() * self.max_angle
        angle = angle * torch.from_numpy(self._moving).to(dev)
        if c == 3:
            axis = torch.nn.functional.normalize(_normal(generator, (n, v, 3), dev).double(), dim=-1)
            rot = _axis_angle(axis, angle)  # (N, V, 3, 3)
        else:
            rot = _rotation_2d(angle)
        # accumulated rotation of every bone: its own times its ancestors' (forward kinematics), in float64
        cum = rot.clone()
        for level_j, level_p in self._levels[1:]:
            cum[:, level_j] = cum[:, level_p] @ rot[:, level_j]
        cum = cum.to(x.dtype)
        return _rebuild_tree(x, self._levels, lambda bone, j: torch.einsum("nmtjc,njdc->nmtjd", bone, cum[:, j]))


class RandomBoneLength(Transform):
    """Body proportions changed per sample: every bone's length is scaled by ``U[1 - max_change, 1 + max_change]``
    (a left bone and its right twin alike), its direction kept, and the change carried down the kinematic tree,
    fixed over time. Joint angles and the motion are unchanged; who performs it (limb lengths) is not what a
    view tells apart. The root stays in place.

    Args:
        layout: Layout name or [`Layout`][slimkit.layouts.Layout].
        max_change: Largest relative change of a bone's length (0.2: each bone 80-120 % of its length).
    """

    def __init__(self, layout: str | Layout, max_change: float = 0.2) -> None:
        self.layout = get_layout(layout)
        self.max_change = _non_negative(max_change, "max_change")
        if self.max_change >= 1:
            raise ValueError(f"max_change: expected a value in [0, 1), got {max_change!r}")
        self._levels = _tree_levels(self.layout)
        flip = self.layout.flip_index
        self._twin = torch.from_numpy(np.minimum(np.arange(self.layout.num_joints), flip))

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        lay = self.layout
        if x.shape[-2] != lay.num_joints:
            raise ValueError(f"x: expected (..., {lay.num_joints}, C) for layout {lay.name!r}, got {tuple(x.shape)}")
        u = _uniform(generator, (x.shape[0], lay.num_joints), x.device)[:, self._twin.to(x.device)]
        if self.max_change == 0:
            return x.clone()
        s = (1 + (2 * u - 1) * self.max_change).to(x.dtype)  # (N, V), one factor per bone (= child joint)
        return _rebuild_tree(x, self._levels, lambda bone, j: bone * s[:, None, None, j, None])


class Mirror(Transform):
    """Left/right mirror: negate x and swap left and right joints (``layout.flip_index``). Its own inverse.

    Args:
        layout: Layout name or [`Layout`][slimkit.layouts.Layout].
    """

    def __init__(self, layout: str | Layout) -> None:
        self.layout = get_layout(layout)

    def _flip(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] != self.layout.num_joints:
            raise ValueError(
                f"x: expected V = {self.layout.num_joints} joints for layout {self.layout.name!r}, "
                f"got shape {tuple(x.shape)}"
            )
        perm = torch.from_numpy(self.layout.flip_index).to(x.device)
        y = x[..., perm, :].clone()
        y[..., 0] = -y[..., 0]
        return y

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        return self._flip(x)


class RandomMirror(Mirror):
    """[`Mirror`][slimkit.transforms.Mirror] applied to each sample with probability ``p``.

    Args:
        layout: Layout name or [`Layout`][slimkit.layouts.Layout].
        p: Probability of mirroring.
    """

    def __init__(self, layout: str | Layout, p: float = 0.5) -> None:
        super().__init__(layout)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p: expected a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        flip = _uniform(generator, (x.shape[0],), x.device) < self.p
        return torch.where(_rows(flip), self._flip(x), x)


class RandomJitter(Transform):
    """Small Gaussian noise on every valid coordinate (independent per joint and frame).

    Args:
        std: Noise standard deviation, in the data's units (about 1 cm for metres).
    """

    def __init__(self, std: float = 0.01) -> None:
        self.std = _non_negative(std, "std")

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        return x + (self.std * _normal(generator, x.shape, x.device)).to(x.dtype)


class RandomShear(Transform):
    """Random shear ``I + S`` with off-diagonal entries ``U[-max_shear, max_shear]``. Changes bone lengths;
    not in the default pipeline.

    Args:
        max_shear: Largest off-diagonal entry.
    """

    def __init__(self, max_shear: float = 0.3) -> None:
        if max_shear < 0:
            raise ValueError(f"max_shear: expected >= 0, got {max_shear!r}")
        self.max_shear = float(max_shear)

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        n, c = x.shape[0], x.shape[-1]
        s = (_uniform(generator, (n, c, c), x.device) * 2 - 1) * self.max_shear
        eye = torch.eye(c, device=x.device)
        mat = eye + s * (1 - eye)
        return _apply_linear(x, mat)


class RandomAxisScale(_RandomScaling):
    """Independent scaling per axis by ``U[min_scale, max_scale]``. Changes bone lengths; not in the default
    pipeline.

    Args:
        min_scale: Smallest factor.
        max_scale: Largest factor.
    """

    per_axis = True

    def __init__(self, min_scale: float = 0.8, max_scale: float = 1.2) -> None:
        super().__init__(min_scale, max_scale)



def default_augmentation(
    layout: str | Layout,
    rotation: float = 0.3,
    scale: tuple[float, float] = (0.9, 1.1),
    limb_angle: float = 0.15,
    mirror_p: float = 0.5,
    jitter: float = 0.005,
    bone_length: float = 0.2,
) -> Compose:
    """The default pipeline: rotation, uniform scale, bone lengths, limb perturbation, mirror, jitter.

    Args:
        layout: Layout name or [`Layout`][slimkit.layouts.Layout].
        rotation: [`RandomRotation`][slimkit.transforms.RandomRotation] ``max_angle`` (radians; 0 disables it).
        scale: [`RandomScale`][slimkit.transforms.RandomScale] range.
        limb_angle: [`RandomLimbPerturbation`][slimkit.transforms.RandomLimbPerturbation] ``max_angle`` (0 disables it).
        mirror_p: [`RandomMirror`][slimkit.transforms.RandomMirror] probability (0 disables it).
        jitter: [`RandomJitter`][slimkit.transforms.RandomJitter] ``std`` in data units (0 disables it).
        bone_length: [`RandomBoneLength`][slimkit.transforms.RandomBoneLength] ``max_change`` (default 0.2:
            bones 80-120 %, so the encoder cannot tell sequences apart by body proportions; 0 disables it;
            applied before the limb perturbation).

    Returns:
        A [`Compose`][slimkit.transforms.Compose].
    """
    ts: list[Transform] = []
    if rotation > 0:
        ts.append(RandomRotation(rotation))
    if scale != (1.0, 1.0):
        ts.append(RandomScale(*scale))
    if bone_length > 0:
        ts.append(RandomBoneLength(layout, bone_length))
    if limb_angle > 0:
        ts.append(RandomLimbPerturbation(layout, limb_angle))
    if mirror_p > 0:
        ts.append(RandomMirror(layout, mirror_p))
    if jitter > 0:
        ts.append(RandomJitter(jitter))
    return Compose(ts)


def bone_lengths(x: np.ndarray | torch.Tensor, layout: str | Layout) -> np.ndarray | torch.Tensor:
    """Length of every bone ``(child, parent)`` of ``layout.bones``: ``(..., V, C)`` -> ``(..., V - 1)``.

    Args:
        x: Joints ``(..., V, C)``, numpy or torch; a bone with a missing end is ``NaN``.
        layout: Layout name or [`Layout`][slimkit.layouts.Layout].

    Returns:
        Bone lengths, same type as ``x``.
    """
    lay = get_layout(layout)
    child = [c for c, _ in lay.bones]
    parent = [p for _, p in lay.bones]
    d = x[..., child, :] - x[..., parent, :]
    return np.linalg.norm(d, axis=-1) if isinstance(x, np.ndarray) else d.norm(dim=-1)
