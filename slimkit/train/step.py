"""The SLiM pretraining step as one unit: views, masks, EMA teacher, student, losses, EMA update.

[`PretrainStep`][slimkit.train.PretrainStep] is what [`Trainer.fit`][slimkit.train.Trainer.fit] runs on every
batch, and what the benchmarks time; given a batch of cleaned sequences ``(x, lengths)`` and a
[`PerSampleGenerator`][slimkit.transforms.PerSampleGenerator] it

1. makes ``num_global_views`` global views (crop of ``U[global_crop_min, 1]`` of the valid frames resampled to
   ``num_frames``) and ``num_local_views`` local views (``U[local_crop_min, local_crop_max]``, resampled to
   ``local_view_frames``), each augmented independently, and one mask per global view (``config.mask_type``);
2. runs the EMA teacher ([`EMATeacher`][slimkit.train.EMATeacher]) on the unmasked global views and the student
   ([`SLiMPretrainModel`][slimkit.train.SLiMPretrainModel]) on the masked global and the local views, and sums
   the losses with [`SLiMLoss`][slimkit.losses.SLiMLoss];
3. (calling the step with an optimizer) backpropagates, clips, steps the optimizer and the lr schedule, and
   moves the teacher towards the student with [`ema_update`][slimkit.train.ema_update].

```python
model = SLiMPretrainModel(SLiMEncoder(config))
step = PretrainStep(model, augmentation=default_augmentation(config.layout))
opt = make_optimizer(model, lr=5e-4, weight_decay=0.05)
gen = PerSampleGenerator(index, seed=0)
loss, parts = step(x, lengths, gen, opt, momentum=0.996, grad_clip=1.0)
```
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import ProjectionHead
from ..losses import NearestNeighbourSupport, SLiMLoss, motion_targets
from ..model import Block, SLiMEncoder
from ..transforms import PerSampleGenerator, TemporalCrop, build_mask, token_motion

__all__ = ["PretrainStep", "PretrainViews", "SLiMPretrainModel", "EMATeacher", "ema_update", "make_optimizer"]

# parameters without weight decay besides norms and biases (any tensor of rank <= 1)
_NO_DECAY = ("patch_bias", "time_embed", "group_embed", "mask_token")


class SLiMPretrainModel(nn.Module):
    """Student side of SLiM pretraining: encoder + MFM head + contrastive projector and predictor.

    One ``forward`` call computes the whole loss, so DistributedDataParallel sees one forward per step.

    Args:
        encoder: The student [`SLiMEncoder`][slimkit.model.SLiMEncoder].
    """

    def __init__(self, encoder: SLiMEncoder) -> None:
        super().__init__()
        c = encoder.config
        d = c.dim
        self.encoder = encoder
        self.mfm_blocks = nn.ModuleList(Block(d, c.heads, c.mlp_ratio) for _ in range(c.mfm_head_blocks))
        self.mfm_head = ProjectionHead(d, d, d)
        self.projector = ProjectionHead(c.pooled_dim(c.contrast_pooling), 2 * d, c.proj_dim)
        self.predictor = ProjectionHead(c.proj_dim, 2 * c.proj_dim, c.proj_dim)
        # masked motion prediction: one linear map per token to its t_patch x J x C motion values
        self.motion_head = (nn.Linear(d, c.t_patch * encoder.group_index.shape[1] * c.in_channels)
                            if c.motion_weight > 0 else None)
        self.criterion = SLiMLoss(c.mfm_weight, c.glcl_weight, c.temperature, c.mfm_loss, c.mfm_target_norm,
                                  c.mfm_target_center, c.motion_weight)

    def heads(self) -> nn.ModuleDict:
        """The pretraining-only heads (``mfm_head``, ``projector``, ``predictor``) as one module (shared
        parameters), as checkpoints store them; ``mfm_blocks`` too when ``config.mfm_head_blocks > 0``, and
        ``motion_head`` when ``config.motion_weight > 0``."""
        heads = {"mfm_head": self.mfm_head, "projector": self.projector, "predictor": self.predictor}
        if len(self.mfm_blocks):
            heads["mfm_blocks"] = self.mfm_blocks
        if self.motion_head is not None:
            heads["motion_head"] = self.motion_head
        return nn.ModuleDict(heads)

    def predict_masked(self, tokens: torch.Tensor) -> torch.Tensor:
        """MFM predictions ``(N, M, L, D)`` from the student's masked-view tokens ``(N, M, L, D)``."""
        if len(self.mfm_blocks):
            n, m, length, d = tokens.shape
            h = tokens.reshape(n * m, length, d)
            for blk in self.mfm_blocks:
                h = blk(h)
            tokens = h.view(n, m, length, d)
        return self.mfm_head(tokens)

    def forward(
        self,
        global_views: torch.Tensor,
        mask: torch.Tensor,
        local_views: torch.Tensor | None,
        teacher_tokens: torch.Tensor,
        teacher_keys: Sequence[torch.Tensor],
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of one batch.

        The masked global views feed masked feature modeling (and, with ``config.motion_weight > 0``, masked
        motion prediction). The contrastive queries come from an unmasked
        forward of the same global views (``config.contrast_view="clean"``) or, paper-faithfully, from the
        masked forward (``"masked"``), plus the local views; both are pooled with ``config.contrast_pooling``
        (time-ordered by default). A loss of weight 0 is not computed, nor the forwards only it needs.

        Args:
            global_views: ``(G*N, M, T, V, C)`` global views, view-major.
            mask: ``(G*N, L)`` bool token mask of each global view.
            local_views: ``(Lc*N, M, T_local, V, C)`` local views, or ``None``.
            teacher_tokens: ``(G*N, M, L, D)`` teacher token features of the unmasked global views.
            teacher_keys: ``G`` teacher projections ``(N, proj_dim)``.

        Returns:
            ``(total, {"mfm": ..., "glcl": ..., "motion": ...})``.
        """
        c = self.encoder.config
        present = self.encoder.persons_present(global_views)
        masked_tokens = None
        if c.mfm_weight > 0 or c.motion_weight > 0 or c.contrast_view == "masked":
            masked_tokens = self.encoder(global_views, mask)
        pred = self.predict_masked(masked_tokens) if c.mfm_weight > 0 else None
        motion = None
        if self.motion_head is not None:
            motion = (self.motion_head(masked_tokens),
                      *motion_targets(global_views, c.t_patch, self.encoder.group_index))
        queries = None
        if c.glcl_weight > 0:
            enc, how = self.encoder, c.contrast_pooling
            if c.contrast_view == "masked":
                pooled = [enc.pool(masked_tokens, present, how)]
            else:
                pooled = [enc.pool(enc(global_views), present, how)]
            if local_views is not None:
                pooled.append(enc.pool(enc(local_views), enc.persons_present(local_views), how))
            q = self.predictor(self.projector(torch.cat(pooled)))
            queries = list(q.chunk(q.shape[0] // teacher_keys[0].shape[0]))
        return self.criterion(pred, teacher_tokens, mask, present, queries, teacher_keys, motion)


@torch.no_grad()
def ema_update(teacher: nn.Module | Iterable[torch.Tensor], student: nn.Module | Iterable[torch.Tensor],
               momentum: float) -> None:
    """Move every teacher parameter towards the student's, in place: ``t = momentum * t + (1 - momentum) * s``.

    The public-API form of lightly's ``update_momentum`` and timm's ``ModelEmaV3``: one
    ``Tensor.lerp_(s, 1 - momentum)`` per parameter, without gradient.

    Args:
        teacher: Module (or parameters) updated in place.
        student: Module (or parameters) of the same structure, read only.
        momentum: In ``[0, 1]``; 1 leaves the teacher unchanged, 0 copies the student.
    """
    dst = list(teacher.parameters() if isinstance(teacher, nn.Module) else teacher)
    src = list(student.parameters() if isinstance(student, nn.Module) else student)
    if len(dst) != len(src):
        raise ValueError(f"teacher, student: expected the same parameters, got {len(dst)} and {len(src)}")
    for t, s in zip(dst, src, strict=True):
        t.lerp_(s.detach(), 1.0 - momentum)


class EMATeacher(nn.Module):
    """EMA copy of the student's encoder and projector (never trained by gradient, never wrapped in DDP).

    Args:
        student: The [`SLiMPretrainModel`][slimkit.train.SLiMPretrainModel] to copy.
    """

    def __init__(self, student: SLiMPretrainModel) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(student.encoder)
        self.projector = copy.deepcopy(student.projector)
        self.requires_grad_(False)
        self.eval()

    def forward(self, global_views: torch.Tensor, num_views: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """MFM targets ``(G*N, M, L, D)`` of the unmasked global views and ``G`` projections ``(N, P)``.

        The targets are the output tokens, or with ``config.mfm_target_layers = K > 0`` the mean of the last
        ``K`` blocks' layer-normalised outputs."""
        tokens, layers = self.encoder.forward_layers(global_views, last=self.encoder.config.mfm_target_layers)
        keys = self.projector(self.encoder.pool(tokens, self.encoder.persons_present(global_views),
                                                self.encoder.config.contrast_pooling))
        if layers:
            tokens = torch.stack([F.layer_norm(h, h.shape[-1:]) for h in layers]).mean(0)
        return tokens, list(keys.chunk(num_views))

    def update(self, student: SLiMPretrainModel, momentum: float) -> None:
        """[`ema_update`][slimkit.train.ema_update] of the encoder and projector towards ``student``'s."""
        ema_update(self.encoder, student.encoder, momentum)
        ema_update(self.projector, student.projector, momentum)


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW (betas 0.9, 0.999; fused on CUDA) with no weight decay on norms, biases and embeddings."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.rsplit(".", 1)[-1] in _NO_DECAY:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kw = {"fused": True} if next(model.parameters()).device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), **kw)


class PretrainViews(NamedTuple):
    """The training views of a batch of ``N`` sequences."""

    global_views: torch.Tensor
    """``(G*N, M, num_frames, V, C)``, view-major."""
    mask: torch.Tensor
    """``(G*N, L)`` bool token mask of each global view."""
    local_views: torch.Tensor | None
    """``(Lc*N, M, local_view_frames, V, C)``, or ``None`` without local views."""


class PretrainStep:
    """One SLiM pretraining step on a batch: views and masks, teacher, student, losses; then the update.

    Args:
        model: The student [`SLiMPretrainModel`][slimkit.train.SLiMPretrainModel] (on the training device).
        teacher: Its [`EMATeacher`][slimkit.train.EMATeacher]; default a fresh copy of ``model``.
        augmentation: ``aug(x, generator=...)`` applied to every view, or ``None``.
        bf16: Run teacher and student under bf16 autocast.
        student_fn: What runs the student's forward (``model`` wrapped in DDP or ``torch.compile``); default
            ``model``.
        teacher_fn: What runs the teacher's forward (e.g. ``torch.compile(teacher)``); default ``teacher``.
    """

    def __init__(
        self,
        model: SLiMPretrainModel,
        teacher: EMATeacher | None = None,
        augmentation: Callable[..., torch.Tensor] | None = None,
        *,
        bf16: bool = False,
        student_fn: Callable[..., Any] | None = None,
        teacher_fn: Callable[..., Any] | None = None,
    ) -> None:
        c = model.encoder.config
        self.config = c
        self.model = model
        self.teacher = teacher if teacher is not None else EMATeacher(model)
        self.augmentation = augmentation
        self.bf16 = bool(bf16)
        self.student_fn = student_fn if student_fn is not None else model
        self.teacher_fn = teacher_fn if teacher_fn is not None else self.teacher
        self.global_crop = TemporalCrop(c.num_frames, c.global_crop_min, 1.0)
        self.local_crop = TemporalCrop(c.local_view_frames, c.local_crop_min, c.local_crop_max)
        self.masker = build_mask(c)
        self.support = (NearestNeighbourSupport(c.support_size, c.proj_dim).to(next(model.parameters()).device)
                        if c.support_size > 0 else None)

    @torch.no_grad()
    def views(self, x: torch.Tensor, lengths: torch.Tensor, generator: PerSampleGenerator) -> PretrainViews:
        """Global views, their masks and local views of ``x (N, M, T, V, C)`` with ``lengths (N,)`` valid frames.

        Every random draw comes from ``generator`` (global views first, then local views, then masks).
        """
        c, aug, enc = self.config, self.augmentation, self.model.encoder
        gv, lv, masks = [], [], []
        for _ in range(c.num_global_views):
            v = self.global_crop(x, lengths, generator=generator)
            gv.append(aug(v, generator=generator) if aug is not None else v)
        for _ in range(c.num_local_views):
            v = self.local_crop(x, lengths, generator=generator)
            lv.append(aug(v, generator=generator) if aug is not None else v)
        for v in gv:
            motion = token_motion(v, c.t_patch, enc.group_index) if c.mask_type == "motion" else None
            masks.append(self.masker(x.shape[0], c.num_patches, enc.group_part, generator=generator,
                                     device=x.device, motion=motion))
        return PretrainViews(torch.cat(gv), torch.cat(masks), torch.cat(lv) if lv else None)

    def loss(self, x: torch.Tensor, lengths: torch.Tensor, generator: PerSampleGenerator,
             ids: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Views, teacher and student forwards: ``(total loss, {"mfm": ..., "glcl": ...})`` (parts detached).

        ``ids (N,)`` name the samples (data set indices) for ``config.support_size > 0``, so that a sequence's
        own earlier key is never its nearest-neighbour positive; ignored otherwise.
        """
        gv, mask, lv = self.views(x, lengths, generator)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            with torch.no_grad():
                t_tokens, t_keys = self.teacher_fn(gv, self.config.num_global_views)
                if self.support is not None:
                    t_keys = self.support(t_keys, ids)
            return self.student_fn(gv, mask, lv, t_tokens, t_keys)

    def update_teacher(self, momentum: float) -> None:
        """EMA update of the teacher towards the student (see [`ema_update`][slimkit.train.ema_update])."""
        self.teacher.update(self.model, momentum)

    def __call__(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        generator: PerSampleGenerator,
        optimizer: torch.optim.Optimizer,
        *,
        momentum: float,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        grad_clip: float | None = None,
        ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A full training step: [`loss`][slimkit.train.PretrainStep.loss], backward, gradient clipping
        (``grad_clip``, when set and not 0), optimizer and scheduler step, then the EMA update with ``momentum``.
        ``ids``: see [`loss`][slimkit.train.PretrainStep.loss].

        Returns:
            ``(total loss (detached), {"mfm": ..., "glcl": ...})``.
        """
        loss, parts = self.loss(x, lengths, generator, ids)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        self.update_teacher(momentum)
        return loss.detach(), parts
