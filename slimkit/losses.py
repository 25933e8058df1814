"""SLiM's two decoder-free losses, as plain modules on tensors (lightly-style).

* [`MaskedFeatureLoss`][slimkit.losses.MaskedFeatureLoss] (MFM): the student, fed a view with masked tokens, predicts
through a light head
  the EMA teacher's token features of the unmasked view. Targets are the teacher's features layer-normalised
  without affine parameters (data2vec's recipe); only masked tokens of present persons count. No decoder,
  no coordinate reconstruction.
* [`GlobalLocalContrastiveLoss`][slimkit.losses.GlobalLocalContrastiveLoss] (GLCL): InfoNCE between the student's
pooled projections of every view
  (global and local temporal crops) and the teacher's projections of the *other* global views of the same
  sequence; the teacher projections of other sequences are the negatives, gathered from every process in a
  distributed run.
* [`MaskedMotionLoss`][slimkit.losses.MaskedMotionLoss] (optional, ``config.motion_weight``): the same masked
  tokens also predict, through a linear head, their joints' frame-to-frame motion (MAMP's target,
  [`motion_targets`][slimkit.losses.motion_targets]); still no decoder.
* [`SLiMLoss`][slimkit.losses.SLiMLoss]: ``total = mfm_weight * MFM + glcl_weight * GLCL + motion_weight * motion``.
* [`NearestNeighbourSupport`][slimkit.losses.NearestNeighbourSupport] (optional, ``config.support_size``):
  replaces each teacher key by its nearest neighbour among the keys of earlier batches (NNCLR's positives),
  so the positive of a sequence is usually *another* sequence, often of another performer.

Both losses are means over samples of a per-sample loss, so averaging gradients over processes (DDP) gives
the gradient of the loss on the whole global batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ._utils import is_distributed, rank, world_size

__all__ = ["MaskedFeatureLoss", "MaskedMotionLoss", "GlobalLocalContrastiveLoss", "SLiMLoss", "NearestNeighbourSupport",
           "gather_no_grad", "motion_targets", "standardize_per_token"]


def _token_mask(mask: torch.Tensor, n: int, m: int, length: int) -> torch.Tensor:
    """A bool token mask ``(N, L)`` or ``(N, M, L)``, checked, as ``(N, M, L)``."""
    if mask.dtype != torch.bool:
        raise TypeError(f"mask: expected a bool tensor, got {mask.dtype}")
    if mask.ndim == 2:
        mask = mask[:, None]
    if mask.ndim != 3 or mask.shape[0] != n or mask.shape[-1] != length or mask.shape[1] not in (1, m):
        raise ValueError(f"mask: expected ({n}, {length}) or ({n}, {m}, {length}), got {tuple(mask.shape)}")
    return mask.expand(n, m, length)


class MaskedFeatureLoss(nn.Module):
    """Masked feature modeling loss on masked tokens only.

    Per token: ``smooth_l1`` (Huber with ``beta``), ``mse`` or ``cosine`` (``1 - cos``) between the prediction
    and the target layer-normalised over features; averaged over the masked tokens of the present persons of
    each sample, then over samples.

    Args:
        kind: ``"smooth_l1"``, ``"mse"`` or ``"cosine"``.
        beta: Huber threshold of ``smooth_l1``.
        normalize_target: Layer-normalise targets (no affine) before comparing.
        center_target: Before that, subtract from each target token the mean over the batch's present persons
            of the target at the same token position, so what is left to predict is what tells this sequence
            apart, not what its position alone gives (the mean of the global batch in a distributed run).
    """

    def __init__(self, kind: str = "smooth_l1", beta: float = 1.0, normalize_target: bool = True,
                 center_target: bool = False) -> None:
        super().__init__()
        self.center_target = bool(center_target)
        if kind not in ("smooth_l1", "mse", "cosine"):
            raise ValueError(f"kind: expected 'smooth_l1', 'mse' or 'cosine', got {kind!r}")
        if not beta > 0:
            raise ValueError(f"beta: expected > 0, got {beta!r}")
        self.kind, self.beta, self.normalize_target = kind, float(beta), bool(normalize_target)

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor,
        present: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred: ``(N, M, L, D)`` student predictions.
            target: ``(N, M, L, D)`` teacher token features (treated as constants).
            mask: ``(N, L)`` or ``(N, M, L)`` bool, ``True`` at masked tokens.
            present: Optional ``(N, M)`` bool, persons that exist; default all.

        Returns:
            Scalar float32 loss.
        """
        if pred.shape != target.shape or pred.ndim != 4:
            raise ValueError(
                f"pred, target: expected equal (N, M, L, D) shapes, got {tuple(pred.shape)} and "
                f"{tuple(target.shape)}"
            )
        n, m, length, d = pred.shape
        mask = _token_mask(mask, n, m, length)
        p = pred.float()
        t = target.detach().float()
        if self.center_target:
            pw = (present if present is not None else t.new_ones(n, m, dtype=torch.bool)).float()[..., None, None]
            total, count = (t * pw).sum(0, keepdim=True), pw.sum(0, keepdim=True)
            if is_distributed():  # the mean of the global batch, so DDP computes what one process would
                dist.all_reduce(total)
                dist.all_reduce(count)
            t = t - total / count.clamp_min(1.0)
        if self.normalize_target:
            t = F.layer_norm(t, (d,), eps=1e-6)
        if self.kind == "smooth_l1":
            per_tok = F.smooth_l1_loss(p, t, reduction="none", beta=self.beta).mean(-1)
        elif self.kind == "mse":
            per_tok = (p - t).pow(2).mean(-1)
        else:
            per_tok = 1.0 - F.cosine_similarity(p, t, dim=-1, eps=1e-6)
        w = mask.float()
        if present is not None:
            w = w * present.reshape(n, m, 1).float()
        # masked-out positions may hold anything (even inf); never let them reach the sum
        per_tok = torch.where(w > 0, per_tok, torch.zeros((), device=per_tok.device))
        count = w.sum((1, 2))
        per_sample = (per_tok * w).sum((1, 2)) / count.clamp_min(1.0)
        has = (count > 0).float()  # no host sync (keeps torch.compile graphs whole)
        return (per_sample * has).sum() / has.sum().clamp_min(1.0)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x (N, ...)`` from every process along dim 0 (rank order); ``x`` itself outside DDP.

    Args:
        x: Tensor with the same shape on every process.

    Returns:
        ``(world_size * N, ...)``, without gradient.
    """
    if world_size() == 1:
        return x.detach()
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts)


class GlobalLocalContrastiveLoss(nn.Module):
    """InfoNCE between student views and teacher global views.

    ``queries[i]`` is the student's projection of view ``i``; the first ``len(keys)`` views are the global
    views, in the order of ``keys``. For every pair ``(i, g)`` with ``i != g`` (all pairs if there are no
    others), the positive of sample ``n`` is ``keys[g][n]`` and the negatives are ``keys[g]`` of every other
    sample of the global batch (gathered over processes). Loss = mean over pairs of the cross-entropy of the
    cosine logits divided by ``temperature``.

    Args:
        temperature: Softmax temperature.
        gather: Gather keys from every process when ``torch.distributed`` is initialised.
    """

    def __init__(self, temperature: float = 0.1, gather: bool = True) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature: expected > 0, got {temperature!r}")
        self.temperature, self.gather = float(temperature), bool(gather)

    def forward(self, queries: Sequence[torch.Tensor], keys: Sequence[torch.Tensor]) -> torch.Tensor:
        """Compute the loss.

        Args:
            queries: Student projections, ``(N, P)`` each; global views first.
            keys: Teacher projections of the global views, ``(N, P)`` each (treated as constants).

        Returns:
            Scalar float32 loss.
        """
        if not keys or len(queries) < len(keys):
            raise ValueError(
                f"queries, keys: expected at least one key and as many queries as keys, got "
                f"{len(queries)} queries and {len(keys)} keys"
            )
        n = keys[0].shape[0]
        for name, ts in (("queries", queries), ("keys", keys)):
            for i, t in enumerate(ts):
                if t.ndim != 2 or t.shape[0] != n:
                    raise ValueError(f"{name}[{i}]: expected ({n}, P), got {tuple(t.shape)}")
        offset = rank() * n if self.gather and is_distributed() else 0
        ks = [
            F.normalize(gather_no_grad(k.float()) if self.gather else k.detach().float(), dim=-1)
            for k in keys
        ]
        qs = [F.normalize(q.float(), dim=-1) for q in queries]
        pairs = [(i, g) for i in range(len(qs)) for g in range(len(ks)) if i != g]
        if not pairs:
            pairs = [(i, g) for i in range(len(qs)) for g in range(len(ks))]
        labels = torch.arange(n, device=qs[0].device) + offset
        losses = [F.cross_entropy(qs[i] @ ks[g].T / self.temperature, labels) for i, g in pairs]
        return torch.stack(losses).mean()


class NearestNeighbourSupport(nn.Module):
    """A first-in first-out bank of past teacher keys that swaps each key for its nearest neighbour (NNCLR).

    Calling it with this batch's keys returns, for every key, the most cosine-similar key in the bank (of a
    *different* sample when ``ids`` are given, so a sequence's own key from an earlier epoch never stands in
    for it), then adds the first view's keys to the bank. Keys with no eligible neighbour (empty bank) are
    returned unchanged. The bank is a non-persistent buffer: it is not saved in checkpoints and refills within
    ``size / batch`` steps of a resume.

    Args:
        size: Keys the bank holds.
        dim: Width of a key.
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if not (isinstance(size, int) and size >= 1):
            raise ValueError(f"size: expected a positive int, got {size!r}")
        self.size = size
        self.register_buffer("bank", torch.zeros(size, dim), persistent=False)
        self.register_buffer("bank_ids", torch.full((size,), -1, dtype=torch.long), persistent=False)
        self.filled, self.ptr = 0, 0

    @torch.no_grad()
    def forward(self, keys: Sequence[torch.Tensor], ids: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Nearest-neighbour keys.

        Args:
            keys: Teacher projections per global view, ``(N, P)`` each.
            ids: ``(N,)`` sample ids (e.g. data set indices), or ``None``.

        Returns:
            ``len(keys)`` tensors ``(N, P)``: unit-norm neighbours from the bank (or the key itself).
        """
        n = keys[0].shape[0]
        if ids is not None and tuple(ids.shape) != (n,):
            raise ValueError(f"ids: expected shape ({n},), got {tuple(ids.shape)}")
        out = []
        for k in keys:
            k = F.normalize(k.float(), dim=-1)
            if self.filled == 0:
                out.append(k)
                continue
            bank = self.bank[: self.filled]
            sim = k @ bank.T
            if ids is not None:
                sim = sim.masked_fill(ids[:, None] == self.bank_ids[None, : self.filled], float("-inf"))
            best, j = sim.max(1)
            out.append(torch.where(torch.isfinite(best)[:, None], bank[j], k))
        self._push(gather_no_grad(F.normalize(keys[0].float(), dim=-1)),
                   gather_no_grad(ids) if ids is not None else None)
        return out

    def _push(self, k: torch.Tensor, ids: torch.Tensor | None) -> None:
        k = k[-self.size:]
        ids = ids[-self.size:] if ids is not None else torch.full((k.shape[0],), -1, device=k.device)
        rows = (self.ptr + torch.arange(k.shape[0], device=k.device)) % self.size
        self.bank[rows] = k.to(self.bank.dtype)
        self.bank_ids[rows] = ids.long()
        self.ptr = (self.ptr + k.shape[0]) % self.size
        self.filled = min(self.size, self.filled + k.shape[0])


def standardize_per_token(target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Standardise each token's values ``(..., K)`` over its ``valid`` ones (MAE / MAMP's target
    normalisation); 0 where not valid."""
    w = valid.to(target.dtype)
    cnt = w.sum(-1, keepdim=True).clamp_min(1.0)
    mean = (target * w).sum(-1, keepdim=True) / cnt
    var = (((target - mean) * w) ** 2).sum(-1, keepdim=True) / cnt
    return torch.where(valid, (target - mean) / torch.sqrt(var + 1e-6), torch.zeros((), device=target.device))


def motion_targets(x: torch.Tensor, t_patch: int, group_index: torch.Tensor,
                   standardize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MAMP's regression target of every token: its joints' frame-to-frame motion, standardised per token.

    The motion of frame ``t`` is ``x[t + 1] - x[t]`` (the last frame repeats the last difference); a value is
    defined where the joint is valid in both frames. With ``standardize`` each token's values (``t_patch``
    frames x its group's joints x ``C``) are then standardised over the defined ones
    ([`standardize_per_token`][slimkit.losses.standardize_per_token]), so that the target is the *shape* of
    the motion, not its size.

    Args:
        x: ``(N, M, T, V, C)`` view, ``NaN`` = missing; ``T`` a multiple of ``t_patch``.
        t_patch: Frames per temporal patch.
        group_index: ``(G, J)`` joint indices of each token group, padded with ``V``
            (`slimkit.SLiMEncoder.group_index`).
        standardize: Standardise per token (default), or keep the raw displacements.

    Returns:
        ``(target, valid)``, each ``(N, M, L, t_patch * J * C)`` with ``L = T / t_patch * G`` in the encoder's
        token order; ``target`` is 0 where ``valid`` is False.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 5:
        raise ValueError(f"x: expected a (N, M, T, V, C) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    n, m, t, v, c = x.shape
    if t < 2 or t % t_patch:
        raise ValueError(f"x: T={t} must be a multiple of t_patch={t_patch} and at least 2")
    ok = torch.isfinite(x).all(-1, keepdim=True)
    x0 = torch.where(ok, x, torch.zeros((), dtype=x.dtype, device=x.device)).float()
    mot, both = x0[:, :, 1:] - x0[:, :, :-1], ok[:, :, 1:] & ok[:, :, :-1]
    mot, both = torch.cat([mot, mot[:, :, -1:]], 2), torch.cat([both, both[:, :, -1:]], 2)
    pad = mot.new_zeros(n, m, t, 1, c)
    gi = group_index.to(x.device)
    mot = torch.cat([mot, pad], 3)[:, :, :, gi]  # (N, M, T, G, J, C)
    both = torch.cat([both.expand(-1, -1, -1, -1, c), pad.bool()], 3)[:, :, :, gi]
    p, g = t // t_patch, gi.shape[0]

    def tokens(a: torch.Tensor) -> torch.Tensor:  # (N, M, T, G, J, C) -> (N, M, P * G, t_patch * J * C)
        a = a.reshape(n, m, p, t_patch, g, -1).transpose(3, 4)
        return a.reshape(n, m, p * g, -1)

    tgt, valid = tokens(mot), tokens(both)
    tgt = torch.where(valid, tgt, torch.zeros((), device=x.device))
    return (standardize_per_token(tgt, valid) if standardize else tgt), valid


class MaskedMotionLoss(nn.Module):
    """Mean squared error between predicted and true token motion, on masked tokens of present persons only.

    Averaged over the defined values of each sample's masked tokens, then over samples (as
    [`MaskedFeatureLoss`][slimkit.losses.MaskedFeatureLoss]).
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, mask: torch.Tensor,
                present: torch.Tensor | None = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred: ``(N, M, L, K)`` predictions.
            target, valid: ``(N, M, L, K)`` from [`motion_targets`][slimkit.losses.motion_targets].
            mask: ``(N, L)`` or ``(N, M, L)`` bool, ``True`` at masked tokens.
            present: Optional ``(N, M)`` bool, persons that exist; default all.

        Returns:
            Scalar float32 loss.
        """
        if pred.shape != target.shape or pred.shape != valid.shape or pred.ndim != 4:
            raise ValueError(f"pred, target, valid: expected equal (N, M, L, K) shapes, got {tuple(pred.shape)}, "
                             f"{tuple(target.shape)} and {tuple(valid.shape)}")
        n, m, length, _ = pred.shape
        w = valid & _token_mask(mask, n, m, length)[..., None]
        if present is not None:
            w = w & present.reshape(n, m, 1, 1)
        err = torch.where(w, (pred.float() - target.detach().float()) ** 2, torch.zeros((), device=pred.device))
        count = w.float().sum((1, 2, 3))
        per_sample = err.sum((1, 2, 3)) / count.clamp_min(1.0)
        has = (count > 0).float()
        return (per_sample * has).sum() / has.sum().clamp_min(1.0)


class SLiMLoss(nn.Module):
    """``mfm_weight * MFM + glcl_weight * GLCL + motion_weight * motion``: the one place the pretraining loss is
    summed.

    A term of weight 0 is skipped (it counts as 0 and its inputs may be ``None``), so a student that does not
    need a forward for it need not run one.

    Args:
        mfm_weight: Weight of [`MaskedFeatureLoss`][slimkit.losses.MaskedFeatureLoss].
        glcl_weight: Weight of [`GlobalLocalContrastiveLoss`][slimkit.losses.GlobalLocalContrastiveLoss].
        temperature: GLCL temperature.
        mfm_kind: MFM per-token loss kind.
        mfm_normalize_target: Layer-normalise the MFM targets (see ``MaskedFeatureLoss``).
        mfm_center_target: Centre the MFM targets per token position over the batch (see ``MaskedFeatureLoss``).
        motion_weight: Weight of [`MaskedMotionLoss`][slimkit.losses.MaskedMotionLoss] (default 0: off).
    """

    def __init__(
        self,
        mfm_weight: float = 1.0,
        glcl_weight: float = 1.0,
        temperature: float = 0.1,
        mfm_kind: str = "smooth_l1",
        mfm_normalize_target: bool = True,
        mfm_center_target: bool = False,
        motion_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.mfm_weight, self.glcl_weight = float(mfm_weight), float(glcl_weight)
        self.motion_weight = float(motion_weight)
        self.motion = MaskedMotionLoss()
        self.mfm = MaskedFeatureLoss(mfm_kind, normalize_target=mfm_normalize_target,
                                     center_target=mfm_center_target)
        self.glcl = GlobalLocalContrastiveLoss(temperature)

    def forward(
        self,
        pred: torch.Tensor | None,
        target: torch.Tensor,
        mask: torch.Tensor,
        present: torch.Tensor | None,
        queries: Sequence[torch.Tensor] | None,
        keys: Sequence[torch.Tensor],
        motion: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Compute the losses and their weighted sum.

        Args:
            pred: ``(N, M, L, D)`` MFM predictions (``None`` when ``mfm_weight`` is 0).
            target: ``(N, M, L, D)`` teacher token features.
            mask: ``(N, L)`` or ``(N, M, L)`` bool mask.
            present: ``(N, M)`` bool persons present, or ``None``.
            queries: Student projections per view, ``(N', P)`` each, global views first (``None`` when
                ``glcl_weight`` is 0).
            keys: Teacher projections per global view, ``(N', P)`` each.
            motion: ``(pred, target, valid)`` of [`MaskedMotionLoss`][slimkit.losses.MaskedMotionLoss] (``None``
                when ``motion_weight`` is 0).

        Returns:
            ``(total, {"mfm": ..., "glcl": ..., "motion": ...})``, the parts detached.
        """
        zero = torch.zeros((), device=target.device)
        for name, weight, given in (("pred", self.mfm_weight, pred), ("queries", self.glcl_weight, queries),
                                    ("motion", self.motion_weight, motion)):
            if weight > 0 and given is None:
                raise ValueError(f"{name}: expected a tensor when its loss has weight {weight}, got None")
        mfm = self.mfm(pred, target, mask, present) if self.mfm_weight > 0 else zero
        glcl = self.glcl(queries, keys) if self.glcl_weight > 0 else zero
        mot = self.motion(*motion, mask, present) if self.motion_weight > 0 else zero
        total = self.mfm_weight * mfm + self.glcl_weight * glcl + self.motion_weight * mot
        return total, {"mfm": mfm.detach(), "glcl": glcl.detach(), "motion": mot.detach()}
