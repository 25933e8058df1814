"""Token masking and skeleton-aware augmentations for SLiM pretraining.

Two families live here.

**Masks** decide which tokens the student sees replaced by the mask token. Every masker has the same call
signature::

    mask = masker(batch_size, num_patches, groups, generator=None, device=None, motion=None)  # bool (N, L)

with ``L = num_patches * G`` tokens ordered time-major (``token = patch * G + group``, as in
[`slimkit.SLiMEncoder.token_grid`][slimkit.model.SLiMEncoder.token_grid]). ``groups`` is either the number of token
groups ``G`` or a ``(G,)``
tensor giving the body part of each group (`slimkit.SLiMEncoder.group_part`). Every sample gets exactly
``num_masked(L)`` masked tokens, where ``num_masked(L) = clamp(round(ratio * L), 1, L - 1)``.

* [`SemanticTubeMask`][slimkit.transforms.SemanticTubeMask] (SLiM): whole body parts over contiguous runs of time
patches.
* [`RandomTokenMask`][slimkit.transforms.RandomTokenMask]: uniformly random tokens (MAE's masking; ablation baseline).
* [`MotionAwareMask`][slimkit.transforms.MotionAwareMask]: MAMP's motion-aware masking (ablation baseline).

**Augmentations** are callables ``t(x, generator=None)`` that take a single numpy or torch sequence
``(T, V, C)`` / ``(M, T, V, C)`` or a batch ``(N, M, T, V, C)`` (any device) and return the same type and
shape; random parameters are drawn per sample (one set for all persons of a sample, since they share one
scene). They compose with [`Compose`][slimkit.transforms.Compose], like ``torchvision.transforms.v2``. Missing joints
(``NaN``)
stay missing and valid joints stay valid through every transform.
[`default_augmentation`][slimkit.transforms.default_augmentation] builds the
default pipeline (rotation, uniform scale, bone-length-preserving limb perturbation, mirror, jitter);
[`RandomShear`][slimkit.transforms.RandomShear] and [`RandomAxisScale`][slimkit.transforms.RandomAxisScale] change
bone lengths and are not in it.
[`TemporalCrop`][slimkit.transforms.TemporalCrop] makes the global and local temporal views.

**Randomness.** ``generator`` may be a ``torch.Generator``, ``None`` (torch's global generator) or a
[`PerSampleGenerator`][slimkit.transforms.PerSampleGenerator], whose draws depend only on a per-sample key (e.g.
dataset index and epoch) and on
the order of the calls: the same sample gets the same crop, rotation and mask whatever batch, process or
device it lands in. The trainer uses it, which is what makes distributed and resumed runs reproduce a
single uninterrupted run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .config import SLiMConfig
from .layouts import Layout, get_layout

__all__ = [
    "PerSampleGenerator",
    "SemanticTubeMask",
    "RandomTokenMask",
    "MotionAwareMask",
    "build_mask",
    "token_motion",
    "Transform",
    "Compose",
    "RandomRotation",
    "RandomScale",
    "RandomLimbPerturbation",
    "Mirror",
    "RandomMirror",
    "RandomJitter",
    "RandomShear",
    "RandomAxisScale",
    "TemporalCrop",
    "default_augmentation",
    "bone_lengths",
]

_M32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (murmur-style finaliser) on int64 tensors holding values in ``[0, 2**32)``.

    Both multipliers are below ``2**31``, so the int64 products never overflow on any device.
    """
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x5BD1E995) & _M32
    return x ^ (x >> 16)


class PerSampleGenerator:
    """Counter-based random numbers keyed by sample: row ``i`` of every draw depends only on ``keys[i]``,
    ``seed`` and how many draws were made before.

    So a sample gets the same random views and masks wherever it is processed (which rank, which position in
    the batch, CPU or CUDA), and no generator state has to be saved to resume a run.

    Args:
        keys: ``(N,)`` non-negative integer keys, one per sample (e.g. ``epoch * 2**32 + dataset_index``).
        seed: Run seed mixed into every draw.
    """

    def __init__(self, keys: torch.Tensor | Sequence[int], seed: int = 0) -> None:
        keys = torch.as_tensor(keys)
        if keys.ndim != 1 or keys.dtype not in (torch.int32, torch.int64):
            raise ValueError(
                f"keys: expected a 1-D integer tensor, got dtype {keys.dtype} shape {tuple(keys.shape)}"
            )
        if bool((keys < 0).any()):
            raise ValueError("keys: expected non-negative integers, got a negative key")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
        self.keys = keys.long()
        s = _mix32(torch.tensor([seed & _M32], dtype=torch.long, device=self.keys.device))
        s = _mix32(s ^ ((seed >> 32) & _M32))
        self._base = _mix32(_mix32((self.keys & _M32) ^ s) ^ ((self.keys >> 32) & _M32))
        self.calls = 0

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def uniform(self, shape: Sequence[int], device: torch.device | str | None = None) -> torch.Tensor:
        """Uniform ``(0, 1)`` float32 numbers; row ``i`` depends on ``keys[i]``, the seed and the call count.

        Args:
            shape: Output shape; ``shape[0]`` must equal the number of keys.
            device: Output device (default: the keys' device).

        Returns:
            A float32 tensor of ``shape`` with values in ``(0, 1)`` (24 random bits each).
        """
        shape = tuple(int(s) for s in shape)
        if not shape or shape[0] != len(self):
            raise ValueError(
                f"shape: expected a first dimension of {len(self)} (one row per key), got {shape}"
            )
        self.calls += 1
        device = self.keys.device if device is None else device
        base = self._base.to(device)
        per_row = math.prod(shape[1:])
        h = _mix32(base ^ (self.calls & _M32))[:, None]
        elem = torch.arange(per_row, device=device, dtype=torch.long)[None]
        h = _mix32(h ^ elem)
        u = ((h >> 8).to(torch.float32) + 0.5) / float(1 << 24)
        return u.view(shape)


Generator = torch.Generator | PerSampleGenerator | None


def _uniform(generator: Generator, shape: Sequence[int], device: torch.device) -> torch.Tensor:
    if isinstance(generator, PerSampleGenerator):
        return generator.uniform(shape, device)
    if generator is None:
        return torch.rand(tuple(shape), device=device)
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator: expected a torch.Generator, a PerSampleGenerator or None, got "
            f"{type(generator).__name__}"
        )
    return torch.rand(tuple(shape), generator=generator, device=generator.device).to(device)


def _normal(generator: Generator, shape: Sequence[int], device: torch.device) -> torch.Tensor:
    """Standard normal numbers via Box-Muller, so that [`PerSampleGenerator`][slimkit.transforms.PerSampleGenerator]
    supports them too."""
    shape = tuple(shape)
    per_row = math.prod(shape[1:])
    u = _uniform(generator, (shape[0], 2, (per_row + 1) // 2), device)
    r, a = torch.sqrt(-2.0 * torch.log(u[:, 0])), 2.0 * math.pi * u[:, 1]
    return torch.cat([r * torch.cos(a), r * torch.sin(a)], 1)[:, :per_row].reshape(shape)


def _check_int(value: Any, name: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return value


def _check_ratio(ratio: Any) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio: expected a float in (0, 1), got {ratio!r}")
    return float(ratio)


# ----------------------------------------------------------------------------------------------------------
# masks
# ----------------------------------------------------------------------------------------------------------
class _Mask:
    """Shared argument handling of the maskers."""

    def __init__(self, ratio: float, layout: str | Layout | None = None) -> None:
        self.ratio = _check_ratio(ratio)
        self.layout = get_layout(layout) if layout is not None else None

    def num_masked(self, num_tokens: int) -> int:
        """Masked tokens per sample: ``clamp(round(ratio * num_tokens), 1, num_tokens - 1)``."""
        if num_tokens < 2:
            raise ValueError(f"num_tokens: masking needs at least 2 tokens, got {num_tokens}")
        return min(max(int(round(self.ratio * num_tokens)), 1), num_tokens - 1)

    def _group_parts(self, groups: int | torch.Tensor | Sequence[int], device: torch.device) -> torch.Tensor:
        """``(G,)`` long tensor: the body part of each token group."""
        if isinstance(groups, int) and not isinstance(groups, bool):
            if groups < 1:
                raise ValueError(f"groups: expected a positive number of token groups, got {groups}")
            lay = self.layout
            if lay is None or groups == len(lay.parts):
                return torch.arange(groups, device=device)
            if groups == lay.num_joints:
                return torch.from_numpy(lay.part_index).to(device)
            raise ValueError(
                f"groups: layout {lay.name!r} has {len(lay.parts)} parts and {lay.num_joints} joints, so "
                f"expected 'groups' of {len(lay.parts)} or {lay.num_joints} (or a (G,) tensor of part ids), "
                f"got {groups}"
            )
        g = torch.as_tensor(groups, device=device)
        if g.ndim != 1 or g.numel() == 0 or g.dtype.is_floating_point or g.dtype == torch.bool:
            raise ValueError(
                f"groups: expected an int or a 1-D integer tensor of part ids, got {g.dtype} {tuple(g.shape)}"
            )
        if bool((g < 0).any()):
            raise ValueError("groups: part ids must be non-negative")
        return g.long()

    def _check(self, batch_size: int, num_patches: int) -> None:
        _check_int(batch_size, "batch_size", 1)
        _check_int(num_patches, "num_patches", 1)

    @staticmethod
    def _device(generator: Generator, device: torch.device | str | None) -> torch.device:
        if device is not None:
            return torch.device(device)
        if isinstance(generator, PerSampleGenerator):
            return generator.keys.device
        return torch.device("cpu")

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in vars(self).items() if k not in ("ratio", "layout"))
        lay = f", layout={self.layout.name!r}" if self.layout is not None else ""
        return f"{type(self).__name__}(ratio={self.ratio}{extra}{lay})"


class SemanticTubeMask(_Mask):
    """SLiM's semantic tube masking: whole body parts over contiguous runs of time patches.

    The time axis of each body part is cut into *tubes* of ``tube_len`` patches, at a random phase drawn per
    sample and part (so the first and last tube of a part may be shorter). Tubes ``(part, time run)`` are
    visited in a random order and masked whole, all of the part's tokens in the run (with joint tokens: all
    joints of the part), until the sample has exactly ``num_masked(L)`` masked tokens. To hit the count
    exactly, the one tube that crosses it is trimmed: it keeps its earliest patches whole and, when the
    remainder is not a multiple of the part's size, its last kept patch covers only the part's first groups.
    So at most one tube per sample is partial, and every other masked tube is a whole part over a contiguous
    run of patches.

    Args:
        ratio: Fraction of tokens to mask, in ``(0, 1)``.
        tube_len: Time patches per tube.
        layout: Optional layout; lets ``groups`` be given as a count (parts or joints of the layout).

    Example:
        ```python
        masker = SemanticTubeMask(0.6, tube_len=4, layout="ntu25")
        mask = masker(8, num_patches=16, groups=5)   # (8, 80) bool, 48 True per row
        ```
    """

    def __init__(self, ratio: float, tube_len: int = 4, layout: str | Layout | None = None) -> None:
        super().__init__(ratio, layout)
        self.tube_len = _check_int(tube_len, "tube_len", 1)

    def __call__(
        self,
        batch_size: int,
        num_patches: int,
        groups: int | torch.Tensor | Sequence[int],
        generator: Generator = None,
        device: torch.device | str | None = None,
        motion: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw masks.

        Args:
            batch_size: Samples ``N``.
            num_patches: Time patches ``P``.
            groups: Token groups ``G`` per patch, or a ``(G,)`` tensor of each group's body part.
            generator: Random source (see the module docs).
            device: Device of the mask (default: the generator's keys' device, else CPU).
            motion: Ignored (accepted for a common signature).

        Returns:
            ``(N, P * G)`` bool, ``True`` = masked, exactly ``num_masked(P * G)`` per row.
        """
        self._check(batch_size, num_patches)
        dev = self._device(generator, device)
        part = self._group_parts(groups, dev)
        # renumber parts 0..K-1 in order of first appearance
        uniq, part = torch.unique(part, return_inverse=True)
        k, g, p, tl = uniq.numel(), part.numel(), num_patches, self.tube_len
        n_mask = self.num_masked(p * g)
        part_size = torch.bincount(part, minlength=k)  # (K,)
        # rank of each group inside its part (groups ordered as given)
        same = part[:, None] == part[None, :]
        rank_in_part = (
            same & (torch.arange(g, device=dev)[None, :] < torch.arange(g, device=dev)[:, None])
        ).sum(1)
        slots = (p - 1) // tl + 2  # tubes per part, enough for any phase
        phase = (_uniform(generator, (batch_size, k), dev) * tl).long().clamp_max(tl - 1)  # (N, K)
        t = torch.arange(p, device=dev)
        pos = t[None, None, :] + phase[:, :, None]  # (N, K, P): shifted patch index
        slot = pos // tl  # (N, K, P)
        # per token (N, P, G): its unit (part, slot) and its time offset inside the tube
        slot_tok = slot[:, part, :].transpose(1, 2)  # (N, P, G)
        unit = part[None, None, :] * slots + slot_tok  # (N, P, G)
        start = torch.clamp(
            slot_tok * tl - phase[:, part][:, None, :], min=0
        )  # first patch of the token's tube
        idx_in_unit = (t[None, :, None] - start) * part_size[part][None, None, :] + rank_in_part[
            None, None, :
        ]
        cost = torch.zeros(batch_size, k * slots, device=dev, dtype=torch.long)
        cost.scatter_add_(1, unit.flatten(1), torch.ones_like(unit.flatten(1)))
        prio = _uniform(generator, (batch_size, k * slots), dev)
        order = prio.argsort(dim=1, stable=True)
        cum = cost.gather(1, order).cumsum(1) - cost.gather(1, order)  # tokens masked before each unit
        before = torch.empty_like(cum).scatter_(1, order, cum)  # back to unit order
        mask = before.gather(1, unit.flatten(1)) + idx_in_unit.flatten(1) < n_mask
        return mask


class RandomTokenMask(_Mask):
    """Uniformly random token masking (MAE-style), exactly ``num_masked(L)`` tokens per sample.

    Args:
        ratio: Fraction of tokens to mask, in ``(0, 1)``.
        layout: Accepted for a common constructor; not used.
    """

    def __call__(
        self,
        batch_size: int,
        num_patches: int,
        groups: int | torch.Tensor | Sequence[int],
        generator: Generator = None,
        device: torch.device | str | None = None,
        motion: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw masks.

        Args:
            batch_size: Samples ``N``.
            num_patches: Time patches ``P``.
            groups: Token groups ``G`` per patch (or a ``(G,)`` tensor; only its length is used).
            generator: Random source (see the module docs).
            device: Device of the mask.
            motion: Ignored (accepted for a common signature).

        Returns:
            ``(N, P * G)`` bool, ``True`` = masked.
        """
        self._check(batch_size, num_patches)
        dev = self._device(generator, device)
        g = self._group_parts(groups, dev).numel()
        length = num_patches * g
        scores = _uniform(generator, (batch_size, length), dev)
        return _top_k_mask(scores, self.num_masked(length))


class MotionAwareMask(_Mask):
    """MAMP's motion-aware masking: tokens with more motion are masked more often.

    Token ``i`` is drawn without replacement with probability proportional to ``exp(motion_i / (tau * s))``,
    where ``s`` is the sample's mean token motion (so ``tau`` is scale-free), by the Gumbel-top-k trick:
    the ``num_masked(L)`` largest ``motion_i / (tau * s) + Gumbel noise`` are masked.

    Args:
        ratio: Fraction of tokens to mask, in ``(0, 1)``.
        tau: Temperature; larger is closer to random masking (MAMP uses 0.75).
        layout: Accepted for a common constructor; not used.
    """

    def __init__(self, ratio: float, tau: float = 0.75, layout: str | Layout | None = None) -> None:
        super().__init__(ratio, layout)
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau > 0:
            raise ValueError(f"tau: expected a positive float, got {tau!r}")
        self.tau = float(tau)

    def __call__(
        self,
        batch_size: int,
        num_patches: int,
        groups: int | torch.Tensor | Sequence[int],
        generator: Generator = None,
        device: torch.device | str | None = None,
        motion: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw masks.

        Args:
            batch_size: Samples ``N``.
            num_patches: Time patches ``P``.
            groups: Token groups ``G`` per patch (or a ``(G,)`` tensor; only its length is used).
            generator: Random source (see the module docs).
            device: Device of the mask.
            motion: ``(N, P * G)`` non-negative motion per token (see
                [`token_motion`][slimkit.transforms.token_motion]). Required.

        Returns:
            ``(N, P * G)`` bool, ``True`` = masked.
        """
        self._check(batch_size, num_patches)
        dev = self._device(generator, device)
        g = self._group_parts(groups, dev).numel()
        length = num_patches * g
        if motion is None:
            raise ValueError("motion: MotionAwareMask needs a (N, L) motion tensor, got None")
        if not isinstance(motion, torch.Tensor) or tuple(motion.shape) != (batch_size, length):
            shape = tuple(motion.shape) if isinstance(motion, torch.Tensor) else type(motion).__name__
            raise ValueError(f"motion: expected a tensor of shape ({batch_size}, {length}), got {shape}")
        m = torch.nan_to_num(motion.to(dev, torch.float32), nan=0.0).clamp_min(0.0)
        m = m / m.mean(1, keepdim=True).clamp_min(1e-12)
        gumbel = -torch.log(-torch.log(_uniform(generator, (batch_size, length), dev)))
        return _top_k_mask(m / self.tau + gumbel, self.num_masked(length))


def _top_k_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    idx = scores.topk(k, dim=1).indices
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(1, idx, True)


def build_mask(config: SLiMConfig) -> SemanticTubeMask | RandomTokenMask | MotionAwareMask:
    """The masker named by ``config.mask_type`` with ``config.mask_ratio`` (and ``tube_len``, ``layout``)."""
    if config.mask_type == "semantic_tube":
        return SemanticTubeMask(config.mask_ratio, config.tube_len, config.layout)
    if config.mask_type == "random":
        return RandomTokenMask(config.mask_ratio, config.layout)
    return MotionAwareMask(config.mask_ratio, layout=config.layout)


def token_motion(x: torch.Tensor, t_patch: int, group_index: torch.Tensor) -> torch.Tensor:
    """Motion per token, as MAMP measures it: mean frame-to-frame displacement of the token's joints.

    Args:
        x: ``(N, M, T, V, C)`` view, ``NaN`` = missing.
        t_patch: Frames per temporal patch.
        group_index: ``(G, J)`` joint indices of each token group, padded with ``V``
            (`slimkit.SLiMEncoder.group_index`).

    Returns:
        ``(N, P * G)`` float32, averaged over the persons present; 0 where nothing is known.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 5:
        raise ValueError(f"x: expected a (N, M, T, V, C) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    n, m, t, v, c = x.shape
    if t % t_patch:
        raise ValueError(f"x: T={t} must be a multiple of t_patch={t_patch}")
    d = (x[:, :, 1:] - x[:, :, :-1]).float().norm(dim=-1)  # (N, M, T-1, V)
    d = torch.cat([d[:, :, :1], d], dim=2)  # first frame reuses the first displacement
    ok = torch.isfinite(d)
    d = torch.where(ok, d, torch.zeros((), device=x.device))
    pad = torch.zeros(n, m, t, 1, device=x.device)
    d = torch.cat([d, pad], 3)[..., group_index.to(x.device)]  # (N, M, T, G, J)
    w = torch.cat([ok.float(), pad], 3)[..., group_index.to(x.device)]
    p = t // t_patch
    s = d.view(n, m, p, t_patch, *d.shape[3:]).sum((3, 5))  # (N, M, P, G)
    cnt = w.view(n, m, p, t_patch, *w.shape[3:]).sum((3, 5))
    per_person = (s / cnt.clamp_min(1.0)).flatten(2)  # (N, M, L)
    present = (cnt.flatten(2).sum(-1) > 0).float()[..., None]
    return (per_person * present).sum(1) / present.sum(1).clamp_min(1.0)


# ----------------------------------------------------------------------------------------------------------
# augmentations
# ----------------------------------------------------------------------------------------------------------
class Transform:
    """Base class: converts numpy / single sequences to a batched ``(N, M, T, V, C)`` tensor and back.

    Subclasses implement ``_apply(x, generator)`` on the batched tensor and draw one set of random parameters
    per sample (row of ``x``).
    """

    def __call__(
        self, x: np.ndarray | torch.Tensor, generator: Generator = None
    ) -> np.ndarray | torch.Tensor:
        """Apply the transform.

        Args:
            x: ``(T, V, C)``, ``(M, T, V, C)`` or a batch ``(N, M, T, V, C)``; numpy or torch,
                ``NaN`` = missing.
            generator: Random source (see the module docs).

        Returns:
            The transformed sequence(s), same type, shape and dtype as ``x``.
        """
        x5, restore = _to_batch(x, type(self).__name__)
        return restore(self._apply(x5, generator))

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _to_batch(x: Any, name: str) -> tuple[torch.Tensor, Callable[[torch.Tensor], Any]]:
    is_np = isinstance(x, np.ndarray)
    if is_np:
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"x: {name} expects a float array, got dtype {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(f"x: {name} expects a float tensor, got dtype {x.dtype}")
        t = x
    else:
        raise TypeError(f"x: {name} expects a numpy array or a torch tensor, got {type(x).__name__}")
    if t.ndim not in (3, 4, 5):
        raise ValueError(
            f"x: {name} expects (T, V, C), (M, T, V, C) or (N, M, T, V, C), got shape {tuple(t.shape)}"
        )
    shape = t.shape
    x5 = t.reshape((1,) * (5 - t.ndim) + tuple(shape))

    def restore(y: torch.Tensor) -> Any:
        y = y.reshape(y.shape[5 - t.ndim :]) if t.ndim < 5 else y
        return y.numpy() if is_np else y

    return x5, restore


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


class Compose(Transform):
    """Apply transforms in order (``torchvision.transforms.v2.Compose`` style).

    Args:
        transforms: Callables ``t(x, generator=None)``.
    """

    def __init__(self, transforms: Sequence[Callable[..., Any]]) -> None:
        if not isinstance(transforms, (list, tuple)) or not all(callable(t) for t in transforms):
            raise TypeError(f"transforms: expected a list of callables, got {transforms!r}")
        self.transforms = list(transforms)

    def __call__(
        self, x: np.ndarray | torch.Tensor, generator: Generator = None
    ) -> np.ndarray | torch.Tensor:
        """Apply every transform in turn.

        Args:
            x: Sequence(s) as accepted by [`Transform`][slimkit.transforms.Transform].
            generator: Random source passed to each transform.

        Returns:
            The transformed sequence(s).
        """
        for t in self.transforms:
            x = t(x, generator=generator)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class RandomRotation(Transform):
    """Rigid rotation about the origin: 3-D Euler angles ``U[-max_angle, max_angle]`` per axis (MAMP's
    augmentation), or one in-plane angle for 2-D keypoints. Bone lengths are preserved.

    Args:
        max_angle: Largest angle per axis, radians.
    """

    def __init__(self, max_angle: float = 0.3) -> None:
        if isinstance(max_angle, bool) or not isinstance(max_angle, (int, float)) or max_angle < 0:
            raise ValueError(f"max_angle: expected a non-negative float, got {max_angle!r}")
        self.max_angle = float(max_angle)

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        n, c = x.shape[0], x.shape[-1]
        if c not in (2, 3):
            raise ValueError(f"x: RandomRotation expects C = 2 or 3 coordinates, got C = {c}")
        k = 3 if c == 3 else 1
        a = (_uniform(generator, (n, k), x.device) * 2 - 1) * self.max_angle
        mat = _rotation_matrices(a.double()) if c == 3 else _rotation_2d(a[:, 0].double())
        return _apply_linear(x, mat)


class RandomScale(Transform):
    """Uniform scaling by ``s ~ U[min_scale, max_scale]`` per sample (all bones scale alike).

    Args:
        min_scale: Smallest factor.
        max_scale: Largest factor.
    """

    def __init__(self, min_scale: float = 0.9, max_scale: float = 1.1) -> None:
        if not 0 < min_scale <= max_scale:
            raise ValueError(
                f"min_scale, max_scale: expected 0 < min_scale <= max_scale, got {min_scale}, {max_scale}"
            )
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        u = _uniform(generator, (x.shape[0],), x.device)
        s = self.min_scale + (self.max_scale - self.min_scale) * u
        return x * _rows(s).to(x.dtype)


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
        if isinstance(max_angle, bool) or not isinstance(max_angle, (int, float)) or max_angle < 0:
            raise ValueError(f"max_angle: expected a non-negative float, got {max_angle!r}")
        self.max_angle = float(max_angle)
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
        # joints grouped by depth in the tree, so each level is one vectorised step
        depth = {}
        for j in self.layout.topological_order:
            p = self.layout.parents[j]
            depth[j] = 0 if p < 0 else depth[p] + 1
        self._levels = []
        for d in range(max(depth.values()) + 1):
            js = [j for j in self.layout.topological_order if depth[j] == d]
            self._levels.append(
                (torch.tensor(js), torch.tensor([max(self.layout.parents[j], 0) for j in js]))
            )

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
        valid = torch.isfinite(x).all(-1, keepdim=True)  # (N, M, T, V, 1)
        zero = torch.zeros((), dtype=x.dtype, device=dev)
        new = x.clone()
        # pivot = nearest valid joint on the path from the root (old and new position), per frame
        piv_old = torch.where(valid, x, zero)
        piv_new = piv_old.clone()
        has = valid.clone()
        for level_j, level_p in self._levels[1:]:
            j, p = level_j.to(dev), level_p.to(dev)
            old = x[:, :, :, j]
            ok = valid[:, :, :, j]
            moved = piv_new[:, :, :, p] + torch.einsum(
                "nmtjc,njdc->nmtjd", old - piv_old[:, :, :, p], cum[:, j]
            )
            nj = torch.where(has[:, :, :, p], moved, old)
            new[:, :, :, j] = nj
            piv_old[:, :, :, j] = torch.where(ok, old, piv_old[:, :, :, p])
            piv_new[:, :, :, j] = torch.where(ok, nj, piv_new[:, :, :, p])
            has[:, :, :, j] = has[:, :, :, p] | ok
        return new


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
        if isinstance(std, bool) or not isinstance(std, (int, float)) or std < 0:
            raise ValueError(f"std: expected a non-negative float, got {std!r}")
        self.std = float(std)

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


class RandomAxisScale(Transform):
    """Independent scaling per axis by ``U[min_scale, max_scale]``. Changes bone lengths; not in the default
    pipeline.

    Args:
        min_scale: Smallest factor.
        max_scale: Largest factor.
    """

    def __init__(self, min_scale: float = 0.8, max_scale: float = 1.2) -> None:
        if not 0 < min_scale <= max_scale:
            raise ValueError(
                f"min_scale, max_scale: expected 0 < min_scale <= max_scale, got {min_scale}, {max_scale}"
            )
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)

    def _apply(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        u = _uniform(generator, (x.shape[0], x.shape[-1]), x.device)
        s = self.min_scale + (self.max_scale - self.min_scale) * u
        return x * _rows(s).to(x.dtype)


class TemporalCrop:
    """Temporal crop-and-resample: keep a random contiguous fraction ``p ~ U[min_scale, max_scale]`` of each
    sample's valid frames (at least ``min_frames``), then resample it linearly to ``num_frames``.

    With ``min_scale=0.5, max_scale=1`` this is MAMP's training view; global views use
    ``(config.global_crop_min, 1)`` and ``config.num_frames``, local views ``(config.local_crop_min,
    config.local_crop_max)`` and ``config.local_view_frames``. Interpolation follows
    [`slimkit.preprocessing.resample`][slimkit.preprocessing.resample]: a joint valid in both neighbouring frames is
    interpolated,
    valid in one, that one is used, in none, it stays missing.

    Args:
        num_frames: Output frames.
        min_scale: Smallest kept fraction of the valid frames.
        max_scale: Largest kept fraction.
        min_frames: Smallest crop in frames (capped by the sequence's length).
    """

    def __init__(
        self, num_frames: int, min_scale: float = 0.5, max_scale: float = 1.0, min_frames: int = 1
    ) -> None:
        self.num_frames = _check_int(num_frames, "num_frames", 1)
        if not 0 < min_scale <= max_scale <= 1:
            raise ValueError(
                f"min_scale, max_scale: expected 0 < min_scale <= max_scale <= 1, got "
                f"{min_scale}, {max_scale}"
            )
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)
        self.min_frames = _check_int(min_frames, "min_frames", 1)

    def __call__(
        self,
        x: np.ndarray | torch.Tensor,
        lengths: torch.Tensor | Sequence[int] | None = None,
        generator: Generator = None,
    ) -> np.ndarray | torch.Tensor:
        """Crop and resample.

        Args:
            x: ``(T, V, C)``, ``(M, T, V, C)`` or a batch ``(N, M, T, V, C)`` padded in time.
            lengths: ``(N,)`` valid frames per sample (the rest is padding); default: all ``T`` frames.
            generator: Random source (see the module docs).

        Returns:
            The view: the input's leading axes with ``num_frames`` frames.
        """
        x5, restore = _to_batch(x, "TemporalCrop")
        n, m, t = x5.shape[:3]
        dev = x5.device
        if lengths is None:
            lens = torch.full((n,), t, device=dev, dtype=torch.long)
        else:
            lens = torch.as_tensor(lengths, device=dev).long().reshape(-1)
            if lens.numel() != n or bool((lens < 1).any()) or bool((lens > t).any()):
                raise ValueError(f"lengths: expected {n} values in [1, {t}], got {lens.tolist()}")
        u = _uniform(generator, (n, 2), dev).double()
        frac = self.min_scale + (self.max_scale - self.min_scale) * u[:, 0]
        crop = torch.round(frac * lens).long().clamp(min=self.min_frames)
        crop = torch.minimum(crop.clamp_min(1), lens)
        start = torch.floor(u[:, 1] * (lens - crop + 1)).long().clamp_max(lens - crop)
        lin = torch.linspace(0, 1, self.num_frames, device=dev, dtype=torch.float64)
        pos = start[:, None] + lin[None] * (crop - 1)[:, None]  # (N, F)
        lo = pos.floor().long()
        hi = torch.minimum(lo + 1, (start + crop - 1)[:, None])
        w = (pos - lo)[:, None, :, None, None].to(x5.dtype)

        def take(i: torch.Tensor) -> torch.Tensor:
            return x5.gather(2, i[:, None, :, None, None].expand(n, m, -1, *x5.shape[3:]))

        a, b = take(lo), take(hi)
        fa, fb = torch.isfinite(a).all(-1, keepdim=True), torch.isfinite(b).all(-1, keepdim=True)
        both = (1 - w) * torch.nan_to_num(a) + w * torch.nan_to_num(b)
        out = torch.where(fa & fb, both, torch.where(fa, a, b))
        return restore(out)

    def __repr__(self) -> str:
        return (
            f"TemporalCrop(num_frames={self.num_frames}, min_scale={self.min_scale}, "
            f"max_scale={self.max_scale}, min_frames={self.min_frames})"
        )


def default_augmentation(
    layout: str | Layout,
    rotation: float = 0.3,
    scale: tuple[float, float] = (0.9, 1.1),
    limb_angle: float = 0.15,
    mirror_p: float = 0.5,
    jitter: float = 0.005,
) -> Compose:
    """The default anatomy-preserving pipeline: rotation, uniform scale, limb perturbation, mirror, jitter.

    Args:
        layout: Layout name or [`Layout`][slimkit.layouts.Layout].
        rotation: [`RandomRotation`][slimkit.transforms.RandomRotation] ``max_angle`` (radians; 0 disables it).
        scale: [`RandomScale`][slimkit.transforms.RandomScale] range.
        limb_angle: [`RandomLimbPerturbation`][slimkit.transforms.RandomLimbPerturbation] ``max_angle`` (0 disables it).
        mirror_p: [`RandomMirror`][slimkit.transforms.RandomMirror] probability (0 disables it).
        jitter: [`RandomJitter`][slimkit.transforms.RandomJitter] ``std`` in data units (0 disables it).

    Returns:
        A [`Compose`][slimkit.transforms.Compose].
    """
    ts: list[Transform] = []
    if rotation > 0:
        ts.append(RandomRotation(rotation))
    if scale != (1.0, 1.0):
        ts.append(RandomScale(*scale))
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
