"""A MAE-style skeleton pretrainer with MAMP's geometry: the yardstick slimkit is measured against.

What it is (MAMP, Mao et al., ICCV 2023, reduced to what matters for cost and quality comparisons):

* **Tokens:** one token per joint per temporal patch of ``t_patch = 4`` frames; 120 frames x 25 joints give
  30 x 25 = 750 tokens per person. The encoder is a :class:`slimkit.SLiMEncoder` built with
  ``token_groups="joint"``, so tokenisation, position embeddings, the pre-norm Transformer (width 256, depth
  8, 8 heads, MLP 4), the final norm, pooling and ``embed()`` are the very same code slimkit uses; only the
  token count differs. (MAMP embeds every joint with one shared ``Conv2d``; ``SLiMEncoder`` has one linear map
  per joint and an extra validity channel: more parameters, the same FLOPs to within 0.1 %.)
* **Pretraining:** a fraction ``mask_ratio = 0.9`` of each person's tokens is masked, chosen by MAMP's
  motion-aware sampling (high-motion tokens are masked more often) or uniformly at random. The encoder sees
  **only** the visible 10 % (75 of 750 tokens). A light decoder (3 pre-norm blocks of width 256) runs on all
  750 positions: encoded visible tokens scattered back, a learned mask token elsewhere, plus its own position
  embeddings. It predicts, per token, the ``t_patch x C`` values of the target: MAMP's motion (frame-to-frame
  differences of the joint's coordinates) or the coordinates themselves, optionally normalised per token
  (MAMP's ``norm_skes_loss``). The loss is the MSE over **masked** tokens only.
* **Inference:** the full 750-token sequence goes through the encoder (``encoder.encode`` /
  ``encoder.embed``), which is where MAE-style methods pay the 14x "inference surge" the SLiM paper names.

This lives under ``benchmarks/``: it is a yardstick, not library API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.losses import motion_targets, standardize_per_token
from slimkit.model import Block
from slimkit.preprocessing import prepare_batch

__all__ = ["MAEConfig", "MAEOutput", "MAEPretrainer", "mae_tiny", "mae_small", "mae_base", "PRESETS"]


@dataclass
class MAEConfig:
    """Hyper-parameters of the MAE-style baseline.

    Args:
        encoder: Config of the encoder; must use ``token_groups="joint"`` to be MAMP-like.
        decoder_dim: Decoder width.
        decoder_depth: Decoder blocks.
        decoder_heads: Decoder attention heads.
        mask_ratio: Fraction of each person's tokens hidden from the encoder (MAMP: 0.9).
        target: ``"motion"`` (MAMP: next-frame minus this-frame coordinates) or ``"coords"``.
        masking: ``"motion"`` (MAMP's motion-aware sampling) or ``"random"``.
        motion_tau: Temperature of motion-aware masking (MAMP: 0.75).
        norm_target: Standardise each token's target over its ``t_patch x C`` values (MAMP's
            ``norm_skes_loss``).
    """

    encoder: SLiMConfig = field(default_factory=lambda: SLiMConfig.base(token_groups="joint", t_patch=4))
    decoder_dim: int = 256
    decoder_depth: int = 3
    decoder_heads: int = 8
    mask_ratio: float = 0.9
    target: str = "motion"
    masking: str = "motion"
    motion_tau: float = 0.75
    norm_target: bool = True

    def __post_init__(self) -> None:
        if self.encoder.token_groups != "joint":
            raise ValueError(f"encoder.token_groups: the MAE baseline uses 'joint' tokens, got "
                             f"{self.encoder.token_groups!r}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio: expected in (0, 1), got {self.mask_ratio}")
        if self.target not in ("motion", "coords"):
            raise ValueError(f"target: expected 'motion' or 'coords', got {self.target!r}")
        if self.masking not in ("motion", "random"):
            raise ValueError(f"masking: expected 'motion' or 'random', got {self.masking!r}")
        if self.decoder_dim % self.decoder_heads:
            raise ValueError(f"decoder_dim={self.decoder_dim} must be a multiple of decoder_heads="
                             f"{self.decoder_heads}")


def mae_tiny(**overrides: Any) -> MAEConfig:
    """Encoder of slimkit ``tiny`` (width 64, 2 blocks, 32 frames) on joint tokens (200 per person)."""
    enc = SLiMConfig.tiny(token_groups="joint", t_patch=4)
    return MAEConfig(**{**dict(encoder=enc, decoder_dim=64, decoder_depth=1, decoder_heads=2), **overrides})


def mae_small(**overrides: Any) -> MAEConfig:
    """Encoder of slimkit ``small`` (width 128, 4 blocks, 64 frames) on joint tokens (400 per person)."""
    enc = SLiMConfig.small(token_groups="joint", t_patch=4)
    return MAEConfig(**{**dict(encoder=enc, decoder_dim=128, decoder_depth=2, decoder_heads=4), **overrides})


def mae_base(**overrides: Any) -> MAEConfig:
    """MAMP's geometry: width 256, 8 blocks, 8 heads, 120 frames / 4 x 25 joints = 750 tokens per person,
    3-block decoder of width 256."""
    return MAEConfig(**overrides)


PRESETS = {"mae_tiny": mae_tiny, "mae_small": mae_small, "mae_base": mae_base}


class MAEOutput(NamedTuple):
    """Everything one pretraining forward pass computes, for inspection and tests.

    ``B`` counts the persons present in the batch (absent persons are dropped, as in ``SLiMEncoder``),
    ``L`` the tokens per person and ``K`` the visible ones.
    """

    loss: torch.Tensor  # scalar
    pred: torch.Tensor  # (B, L, t_patch * C) decoder prediction at every position
    target: torch.Tensor  # (B, L, t_patch * C)
    target_valid: torch.Tensor  # (B, L, t_patch * C) bool: target values defined by valid joints
    mask: torch.Tensor  # (B, L) bool, True = masked (hidden from the encoder, scored by the loss)
    visible_index: torch.Tensor  # (B, K) token indices the encoder saw


class MAEPretrainer(nn.Module):
    """MAE-style pretrainer (MAMP geometry) around a joint-token :class:`slimkit.SLiMEncoder`.

    Args:
        config: An :class:`MAEConfig`; defaults to :func:`mae_base`.

    Example:
        ```python
        model = MAEPretrainer(mae_tiny())
        x = model.encoder.preprocess(sequences)       # (N, M, T, V, C), NaN = missing
        model.loss(x).backward()
        z = model.encoder.embed(sequences)            # full token sequence at inference
        ```
    """

    def __init__(self, config: MAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or mae_base()
        self.encoder = SLiMEncoder(self.config.encoder)
        ec = self.config.encoder
        p, g = self.encoder.token_grid()
        d = self.config.decoder_dim
        self.decoder_embed = nn.Linear(ec.dim, d)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.decoder_time_embed = nn.Parameter(torch.zeros(1, p, 1, d))
        self.decoder_group_embed = nn.Parameter(torch.zeros(1, 1, g, d))
        self.decoder_blocks = nn.ModuleList(
            Block(d, self.config.decoder_heads, ec.mlp_ratio) for _ in range(self.config.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(d, eps=1e-6)
        self.decoder_pred = nn.Linear(d, ec.t_patch * ec.in_channels)
        for prm in (self.mask_token, self.decoder_time_embed, self.decoder_group_embed):
            nn.init.trunc_normal_(prm, std=0.02)
        for m in [self.decoder_embed, self.decoder_pred, *self.decoder_blocks.modules()]:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    # ---- geometry -----------------------------------------------------------------------------------
    @property
    def num_tokens(self) -> int:
        """Tokens per person at the configured number of frames (750 for MAMP's geometry)."""
        return self.encoder.num_tokens()

    @property
    def num_visible(self) -> int:
        """Tokens per person the encoder sees during pretraining (75 of 750 for MAMP's geometry).

        Rounded, not truncated: ``int(750 * (1 - 0.9))`` is 74 in floating point.
        """
        return max(1, round(self.num_tokens * (1.0 - self.config.mask_ratio)))

    def preprocess(self, skeletons: Any, input_format: str = "auto") -> torch.Tensor:
        """Raw skeletons -> the prepared ``(N, M, T, V, C)`` tensor that :meth:`loss` reads."""
        return self.encoder.preprocess(skeletons, input_format)

    # ---- targets and masks --------------------------------------------------------------------------
    def _patchify(self, a: torch.Tensor) -> torch.Tensor:
        """``(B, T, V, C)`` -> ``(B, L, t_patch * C)`` in the encoder's token order (time-major)."""
        b, t, v, c = a.shape
        u = self.config.encoder.t_patch
        return a.view(b, t // u, u, v, c).permute(0, 1, 3, 2, 4).reshape(b, (t // u) * v, u * c)

    def make_target(self, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token regression target and its validity, from persons ``xb (B, T, V, C)`` (NaN = missing)."""
        if self.config.target == "motion":  # MAMP's motion, one joint per token (slimkit's own definition)
            joints = torch.arange(xb.shape[2], device=xb.device)[:, None]
            tgt, ok = motion_targets(xb[:, None], self.config.encoder.t_patch, joints, standardize=False)
            tgt, ok = tgt[:, 0], ok[:, 0]
        else:
            valid = torch.isfinite(xb).all(-1, keepdim=True)  # (B, T, V, 1)
            x0 = torch.nan_to_num(xb, nan=0.0, posinf=0.0, neginf=0.0)
            tgt, ok = self._patchify(x0), self._patchify(valid.expand_as(x0).contiguous())
            tgt = torch.where(ok, tgt, torch.zeros_like(tgt))
        if self.config.norm_target:
            tgt = standardize_per_token(tgt, ok)
        return tgt, ok

    def sample_mask(self, xb: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(B, L)`` bool mask with exactly ``L - num_visible`` True (masked) entries per person.

        Motion-aware masking (MAMP): a token's motion is its mean absolute frame difference; masked tokens are
        drawn without replacement (Gumbel top-k) with probabilities ``softmax(motion / (max motion * tau))``,
        so moving joints are hidden more often. Random masking: uniform.
        """
        b = xb.shape[0]
        n_tok, n_mask = self.num_tokens, self.num_tokens - self.num_visible
        gen_device = generator.device if generator is not None else xb.device
        u = torch.rand(b, n_tok, generator=generator, device=gen_device).to(xb.device)
        if self.config.masking == "motion":
            x0 = torch.nan_to_num(xb.detach().float(), nan=0.0, posinf=0.0, neginf=0.0)
            mot = (x0[:, 1:] - x0[:, :-1]).abs()
            mot = torch.cat([mot[:, :1], mot], 1)  # first frame takes the second's motion
            mot = self._patchify(mot).mean(-1)  # (B, L)
            logits = mot / (mot.amax(-1, keepdim=True).clamp_min(1e-6) * self.config.motion_tau)
            score = F.log_softmax(logits, -1) - torch.log(-torch.log(u.clamp(1e-6, 1 - 1e-6)))
        else:
            score = u
        masked = score.topk(n_mask, dim=-1).indices
        mask = torch.zeros(b, n_tok, dtype=torch.bool, device=xb.device)
        return mask.scatter_(1, masked, True)

    # ---- forward ------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> MAEOutput:
        """One pretraining forward pass.

        Args:
            x: ``(N, M, T, V, C)`` prepared skeletons (``NaN`` = missing), ``T = encoder.config.num_frames``.
            mask: Optional ``(B, L)`` bool mask over the ``B`` *present* persons, each row with exactly
                ``L - num_visible`` True entries; sampled when ``None``.
            generator: RNG for the mask.

        Returns:
            An :class:`MAEOutput`; ``.loss`` is the scalar to minimise.
        """
        enc = self.encoder
        shape = (enc.config.num_frames, enc.layout.num_joints, enc.config.in_channels)
        if not isinstance(x, torch.Tensor) or x.ndim != 5 or tuple(x.shape[2:]) != shape:
            raise ValueError(f"x: expected a tensor (N, M, {', '.join(map(str, shape))}), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        present = enc.persons_present(x)
        xb = x.flatten(0, 1)[present.flatten()]  # (B, T, V, C): absent persons are not encoded
        tok, p = enc.tokenize(xb)  # (B, P, G, D)
        tok = (tok + enc.time_embed + enc.group_embed).flatten(1, 2)  # (B, L, D)
        b, n_tok, d = tok.shape
        if mask is None:
            mask = self.sample_mask(xb, generator)
        elif mask.shape != (b, n_tok) or mask.dtype != torch.bool:
            raise ValueError(f"mask: expected a bool tensor of shape ({b}, {n_tok}), got {tuple(mask.shape)} "
                             f"{mask.dtype}")
        k = self.num_visible
        if not bool((mask.sum(1) == n_tok - k).all()):
            raise ValueError(f"mask: every row must mask exactly {n_tok - k} of {n_tok} tokens")
        # stable sort puts the K visible (False) tokens first, in their original order
        visible_index = torch.argsort(mask.to(torch.int8), dim=1, stable=True)[:, :k]
        h = torch.gather(tok, 1, visible_index[..., None].expand(b, k, d))
        for blk in enc.blocks:
            h = blk(h)
        h = enc.norm(h)

        y = self.decoder_embed(h)
        dd = y.shape[-1]
        full = self.mask_token.to(y.dtype).expand(b, n_tok, dd)
        full = full.scatter(1, visible_index[..., None].expand(b, k, dd), y)
        full = full + (self.decoder_time_embed + self.decoder_group_embed).flatten(1, 2).to(y.dtype)
        for blk in self.decoder_blocks:
            full = blk(full)
        pred = self.decoder_pred(self.decoder_norm(full))

        target, valid = self.make_target(xb)
        loss = masked_mse(pred.float(), target, valid, mask)
        return MAEOutput(loss, pred, target, valid, mask, visible_index)

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Scalar pretraining loss of prepared skeletons ``x (N, M, T, V, C)``."""
        return self.forward(x, generator=generator).loss


def masked_mse(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
    """MSE per token over its valid target values, averaged over the masked tokens only.

    Args:
        pred, target: ``(B, L, F)``.
        valid: ``(B, L, F)`` bool, where the target is defined (missing joints are not scored).
        mask: ``(B, L)`` bool, True at masked tokens.
    """
    w = valid.to(pred.dtype)
    per_token = (((pred - target) ** 2) * w).sum(-1) / w.sum(-1).clamp_min(1.0)
    scored = (mask & valid.any(-1)).to(pred.dtype)
    return (per_token * scored).sum() / scored.sum().clamp_min(1.0)


def prepare(sequences: Any, config: MAEConfig) -> torch.Tensor:
    """Prepare raw sequences ``(M, T, V, C)`` for :meth:`MAEPretrainer.loss` with slimkit's pipeline."""
    return prepare_batch(list(sequences), config.encoder)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)

