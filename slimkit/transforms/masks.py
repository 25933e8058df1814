"""Token masks: which tokens the student sees replaced by the mask token (see
[`slimkit.transforms`][slimkit.transforms] for the common call signature and token order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._utils import check_positive_int
from ..config import SLiMConfig
from ..layouts import Layout, get_layout
from .random import Generator, _sample_device, _uniform

__all__ = ["SemanticTubeMask", "RandomTokenMask", "MotionAwareMask", "build_mask", "token_motion"]


def _check_ratio(ratio: Any) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio: expected a float in (0, 1), got {ratio!r}")
    return float(ratio)


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
            groups: Token groups ``G`` per patch, or a ``(G,)`` tensor of each group's body part (only
                [`SemanticTubeMask`][slimkit.transforms.SemanticTubeMask] uses the parts; the others only
                its length).
            generator: Random source (see [`slimkit.transforms`][slimkit.transforms]).
            device: Device of the mask (default: the generator's keys' device, else CPU).
            motion: ``(N, P * G)`` non-negative motion per token (see
                [`token_motion`][slimkit.transforms.token_motion]); required by
                [`MotionAwareMask`][slimkit.transforms.MotionAwareMask], ignored by the others.

        Returns:
            ``(N, P * G)`` bool, ``True`` = masked, exactly ``num_masked(P * G)`` per row.
        """
        check_positive_int(batch_size, "batch_size")
        check_positive_int(num_patches, "num_patches")
        dev = _sample_device(generator, device)
        part = self._group_parts(groups, dev)
        return self._draw(batch_size, num_patches, part, generator, dev, motion)

    def _draw(self, batch_size: int, num_patches: int, part: torch.Tensor, generator: Generator, dev: torch.device,
              motion: torch.Tensor | None) -> torch.Tensor:  # pragma: no cover
        """The masks of ``batch_size`` samples, given the checked arguments and each group's part."""
        raise NotImplementedError

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
        self.tube_len = check_positive_int(tube_len, "tube_len")

    def _draw(self, batch_size: int, num_patches: int, part: torch.Tensor, generator: Generator, dev: torch.device,
              motion: torch.Tensor | None) -> torch.Tensor:
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

    def _draw(self, batch_size: int, num_patches: int, part: torch.Tensor, generator: Generator, dev: torch.device,
              motion: torch.Tensor | None) -> torch.Tensor:
        length = num_patches * part.numel()
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

    def _draw(self, batch_size: int, num_patches: int, part: torch.Tensor, generator: Generator, dev: torch.device,
              motion: torch.Tensor | None) -> torch.Tensor:
        length = num_patches * part.numel()
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
