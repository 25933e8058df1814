"""The SLiM encoder: skeleton tokens -> pre-norm Transformer -> action embedding.

Tokenisation. A sequence ``(T, V, C)`` is cut into ``T / t_patch`` temporal patches. Within a patch, a *token
group* is either one body part of the layout (``token_groups="part"``: 5-6 tokens per patch) or one joint
(``"joint"``: MAMP's 25 tokens per patch). One linear map per group embeds the group's ``t_patch x joints x
(C + 1)`` values, where the extra channel is the joint's validity flag: missing joints enter as zeros *with*
flag 0, so the encoder can tell "missing" from "at the origin". Learned factorised position embeddings (time
x group) are added; the time table is linearly interpolated for views of another length.

Pooling (``config.pooling``). ``"time"``: token features are averaged over body parts and patches within each
of ``config.time_bins`` equal time bins, and the bins are concatenated in time order, so the embedding tells a
motion from its reverse; ``"time_max"`` (default): those bins, then the maximum of each feature over all
tokens; ``"mean"``: one mean over all tokens. Persons are encoded separately and their pooled
embeddings are averaged over the persons that are present. Absent (all-missing) persons are not encoded at all.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard
from torch import nn
from tqdm.auto import tqdm

from . import export as _export
from . import hub
from ._hub_mixin import HubMixin
from ._utils import check_positive_int, default_device
from .config import SLiMConfig
from .layouts import get_layout
from .preprocessing import SequenceSource, prepare_batch
from .windows import embed_windows as _embed_windows

__all__ = ["SLiMEncoder"]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm Transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float = 0.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = drop_path

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_path == 0.0:
            return x
        keep = 1.0 - self.drop_path
        mask = x.new_empty(x.shape[0], 1, 1).bernoulli_(keep)
        return x * mask / keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self._drop(self.attn(self.norm1(x)))
        return x + self._drop(self.mlp(self.norm2(x)))


class SLiMEncoder(
    nn.Module,
    HubMixin,
    library_name="slimkit",
    tags=["skeleton", "action-recognition", "self-supervised", "slim", "slimkit"],
    paper_url="https://arxiv.org/abs/2603.10648",
    license="apache-2.0",
):
    """SLiM skeleton encoder with ``embed()`` and Hugging Face Hub save/load.

    Args:
        config: A [`SLiMConfig`][slimkit.config.SLiMConfig] (or a dict of its fields). Defaults to ``SLiMConfig()``.

    Example:
        ```python
        enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20"))
        z = enc.embed(sequences)          # (N, D) float32, L2-normalised
        ```
    """

    def __init__(self, config: SLiMConfig | None = None) -> None:
        super().__init__()
        if config is None:
            config = SLiMConfig()
        elif isinstance(config, dict):
            config = SLiMConfig.from_dict(config)
        elif not isinstance(config, SLiMConfig):
            raise TypeError(f"config must be a SLiMConfig or a dict, got {type(config).__name__}")
        self.config = config
        self.layout = get_layout(config.layout)
        v = self.layout.num_joints
        if config.token_groups == "part":
            groups = [list(idx) for idx in self.layout.parts.values() if idx]
        else:
            groups = [[j] for j in range(v)]
        jmax = max(len(g) for g in groups)
        # group -> joint indices, padded with index V (a constant zero joint)
        index = torch.full((len(groups), jmax), v, dtype=torch.long)
        for i, g in enumerate(groups):
            index[i, : len(g)] = torch.tensor(g)
        self.register_buffer("group_index", index, persistent=False)
        # token group -> body part number, for semantic masking of joint tokens
        part_of_joint = torch.from_numpy(self.layout.part_index)
        self.register_buffer("group_part", part_of_joint[index[:, 0]], persistent=False)
        self.num_groups = len(groups)
        d = config.dim
        patch_in = config.t_patch * jmax * (config.in_channels + 1)
        self.patch_weight = nn.Parameter(torch.empty(self.num_groups, patch_in, d))
        self.patch_bias = nn.Parameter(torch.zeros(self.num_groups, d))
        self.time_embed = nn.Parameter(torch.zeros(1, config.num_patches, 1, d))
        self.group_embed = nn.Parameter(torch.zeros(1, 1, self.num_groups, d))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        dpr = [config.drop_path * i / max(config.depth - 1, 1) for i in range(config.depth)]
        self.blocks = nn.ModuleList(Block(d, config.heads, config.mlp_ratio, p) for p in dpr)
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.patch_weight, std=1.0 / math.sqrt(self.patch_weight.shape[1]))
        nn.init.zeros_(self.patch_bias)
        for p in (self.time_embed, self.group_embed, self.mask_token):
            nn.init.trunc_normal_(p, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    # ---- shapes ------------------------------------------------------------------------------------------
    @property
    def embed_dim(self) -> int:
        """Width ``D`` of the pooled embedding (``config.embed_dim``: ``dim * (time_bins + 1)`` for the default
        ``"time_max"`` pooling)."""
        return self.config.embed_dim

    def num_tokens(self, num_frames: int | None = None) -> int:
        """Tokens per person for a view of ``num_frames`` frames (default: ``config.num_frames``)."""
        return (num_frames or self.config.num_frames) // self.config.t_patch * self.num_groups

    def token_grid(self, num_frames: int | None = None) -> tuple[int, int]:
        """``(patches, groups)``: tokens are ordered time-major, ``token = patch * groups + group``."""
        return (num_frames or self.config.num_frames) // self.config.t_patch, self.num_groups

    # ---- forward -----------------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        c = self.config
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x: expected a torch.Tensor (N, M, T, V, C), got {type(x).__name__}")
        if x.ndim != 5 or x.shape[3] != self.layout.num_joints or x.shape[4] != c.in_channels:
            raise ValueError(
                f"x: expected shape (N, M, T, {self.layout.num_joints}, {c.in_channels}) for layout "
                f"{self.layout.name!r}, got {tuple(x.shape)}"
            )
        if x.shape[2] % c.t_patch or x.shape[2] == 0:
            raise ValueError(f"x: T={x.shape[2]} must be a positive multiple of t_patch={c.t_patch}")

    @staticmethod
    def persons_present(x: torch.Tensor) -> torch.Tensor:
        """``(N, M)`` bool: persons with at least one finite joint in ``x (N, M, T, V, C)``."""
        return torch.isfinite(x).all(-1).flatten(2).any(-1)

    def tokenize(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """``(B, T, V, C)`` (NaN = missing) -> patch embeddings ``(B, P, G, D)`` (no positions) and ``P``."""
        b, t, v, c = x.shape
        valid = torch.isfinite(x).all(-1, keepdim=True)
        feats = torch.cat([torch.where(valid, x, torch.zeros((), dtype=x.dtype, device=x.device)),
                           valid.to(x.dtype)], dim=-1)
        feats = torch.cat([feats, feats.new_zeros(b, t, 1, c + 1)], dim=2)  # the padding joint
        p = t // self.config.t_patch
        g = feats[:, :, self.group_index]  # (B, T, G, J, C+1)
        g = g.view(b, p, self.config.t_patch, self.num_groups, -1, c + 1).permute(0, 1, 3, 2, 4, 5)
        g = g.reshape(b, p, self.num_groups, -1).to(self.patch_weight.dtype)
        tok = torch.einsum("bpgi,gid->bpgd", g, self.patch_weight) + self.patch_bias
        return tok, p

    def _positions(self, p: int) -> torch.Tensor:
        te = self.time_embed
        if p != te.shape[1]:
            te = F.interpolate(te[:, :, 0].transpose(1, 2), size=p, mode="linear", align_corners=False)
            te = te.transpose(1, 2)[:, :, None]
        return te + self.group_embed  # (1, P, G, D)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Token features of every person.

        Args:
            x: ``(N, M, T, V, C)`` prepared skeletons (``NaN`` = missing joint), ``T`` a multiple of ``t_patch``.
            mask: Optional bool ``(N, L)`` or ``(N, M, L)``, ``True`` where a token is replaced by the learned
                mask token (``L = T / t_patch * groups``).

        Returns:
            ``(N, M, L, D)`` features after the final norm; zeros for absent persons.
        """
        return self.forward_layers(x, mask)[0]

    def forward_layers(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                       last: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """[`forward`][slimkit.model.SLiMEncoder.forward], plus the raw outputs of the last ``last`` blocks.

        Args:
            x, mask: As for ``forward``.
            last: How many of the last blocks' outputs (before the final norm) to return, ``0..depth``.

        Returns:
            ``(tokens, layers)``: ``forward``'s ``(N, M, L, D)`` and a list of ``last`` tensors ``(N, M, L, D)``,
            deepest last; zeros for absent persons.
        """
        if not (isinstance(last, int) and 0 <= last <= len(self.blocks)):
            raise ValueError(f"last: expected an int in [0, {len(self.blocks)}], got {last!r}")
        self._check_input(x)
        n, m, t = x.shape[:3]
        present = self.persons_present(x)
        flat = present.flatten()
        xb = x.flatten(0, 1)[flat]
        tok, p = self.tokenize(xb)
        length = p * self.num_groups
        if mask is not None:
            if mask.dtype != torch.bool:
                raise TypeError(f"mask: expected a bool tensor, got {mask.dtype}")
            if mask.ndim == 2:
                mask = mask[:, None].expand(n, m, mask.shape[-1])
            if tuple(mask.shape) != (n, m, length):
                raise ValueError(f"mask: expected shape ({n}, {length}) or ({n}, {m}, {length}), got "
                                 f"{tuple(mask.shape)}")
            mb = mask.flatten(0, 1)[flat].view(-1, p, self.num_groups, 1)
            tok = torch.where(mb, self.mask_token.to(tok.dtype)[:, None], tok)
        h = (tok + self._positions(p)).flatten(1, 2)
        kept = []
        for i, blk in enumerate(self.blocks):
            h = blk(h)
            if i >= len(self.blocks) - last:
                kept.append(h)
        kept.insert(0, self.norm(h))
        outs = []
        for k in kept:
            out = k.new_zeros(n * m, length, k.shape[-1])
            out[flat] = k
            outs.append(out.view(n, m, length, -1))
        return outs[0], outs[1:]

    def pool(self, tokens: torch.Tensor, present: torch.Tensor, pooling: str | None = None) -> torch.Tensor:
        """Pool token features per ``pooling`` (default ``config.pooling``), then average over present persons.

        Args:
            tokens: ``(N, M, L, D)`` token features, time-major (``L = patches * groups``).
            present: ``(N, M)`` bool, persons that exist.

        Returns:
            ``(N, config.pooled_dim(pooling))``.
        """
        pooling = self.config.pooling if pooling is None else pooling
        n, m, length, d = tokens.shape
        if pooling == "mean":
            per_person = tokens.mean(2)
        else:
            per_patch = tokens.view(n * m, length // self.num_groups, self.num_groups, d).mean(2)
            bins = F.adaptive_avg_pool1d(per_patch.transpose(1, 2), self.config.time_bins)  # (N*M, D, B)
            per_person = bins.transpose(1, 2).reshape(n, m, -1)
            if pooling == "time_max":
                per_person = torch.cat([per_person, tokens.amax(2)], -1)
        w = present.to(per_person.dtype)[..., None]
        return (per_person * w).sum(1) / w.sum(1).clamp_min(1.0)

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled, unnormalised features ``(N, D)`` of *prepared* skeletons ``(N, M, T, V, C)``: the low-level,
        differentiable call that training, evaluation and export build on.

        For raw skeletons (arrays or lists of sequences, a data set) call [`embed`][slimkit.model.SLiMEncoder.embed]:
        it prepares them and returns L2-normalised numpy embeddings, as sentence-transformers' ``encode`` does
        (see the concepts page "Names").

        Args:
            x: ``(N, M, T, V, C)`` prepared skeletons (``NaN`` = missing), e.g. from
                [`preprocess`][slimkit.model.SLiMEncoder.preprocess].
            mask: Optional token mask, as in ``forward``.

        Returns:
            ``(N, embed_dim)`` features.
        """
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"x: expected a prepared torch.Tensor (N, M, T, V, C), got {type(x).__name__}; encode() is the "
                "low-level call on prepared tensors; embed() takes raw skeletons (sentence-transformers' encode)"
            )
        return self.pool(self.forward(x, mask), self.persons_present(x))

    # ---- user-facing inference ---------------------------------------------------------------------------
    def preprocess(self, skeletons: Any, input_format: str = "auto") -> torch.Tensor:
        """Prepare raw skeletons into the ``(N, max_persons, num_frames, V, C)`` tensor ``forward`` reads."""
        src = SequenceSource(skeletons, input_format, self.layout.num_joints, self.config.in_channels)
        return prepare_batch(src.batch(0, len(src)), self.config, self.layout)

    def embed(
        self,
        skeletons: Any,
        batch_size: int = 64,
        device: str | torch.device | None = None,
        normalize: bool = True,
        convert_to_numpy: bool = True,
        show_progress_bar: bool | None = None,
        input_format: str = "auto",
        output_value: str = "embedding",
        precision: str = "auto",
    ) -> np.ndarray | torch.Tensor:
        """Embed skeleton sequences.

        Args:
            skeletons: One sequence ``(T, V, C)`` / ``(M, T, V, C)``, a batch ``(N, M, T, V, C)``, a list of
                sequences of any lengths, or a dataset of ``(sequence, label)`` items. Missing joints may be
                ``NaN`` or all-zero; zero-padded frames and absent persons are ignored.
            batch_size: Sequences per forward pass; bounds memory.
            device: ``"cuda"``, ``"cpu"``...; default CUDA when available. The encoder is moved there.
            normalize: L2-normalise the embeddings (cosine similarity = dot product).
            convert_to_numpy: Return a numpy array (else a CPU torch tensor).
            show_progress_bar: Show a tqdm bar; ``None`` shows one for more than 8 batches on a terminal.
            input_format: ``"auto"`` or an axis order such as ``"NCTVM"`` or ``"NTVC"``, or ``"NTF"``.
            output_value: ``"embedding"`` for ``(N, D)``, ``"tokens"`` for token features ``(N, M, L, D)``.
            precision: ``"auto"`` (bf16 autocast on CUDA, fp32 on CPU), ``"bf16"`` or ``"fp32"``.

        Returns:
            ``(N, D)`` float32 embeddings (or ``(N, M, L, D)`` token features).
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        if output_value not in ("embedding", "tokens"):
            raise ValueError(f"output_value: expected 'embedding' or 'tokens', got {output_value!r}")
        if precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision: expected 'auto', 'bf16' or 'fp32', got {precision!r}")
        src = SequenceSource(skeletons, input_format, self.layout.num_joints, self.config.in_channels)
        dev = default_device(device)
        bf16 = precision == "bf16" or (precision == "auto" and dev.type == "cuda")
        self.to(dev)
        # An encoder already in eval mode is not touched, so concurrent embed() calls on it are safe.
        was_training = self.training
        if was_training:
            self.eval()
        n = len(src)
        starts = range(0, n, batch_size)
        disable = (None if len(starts) > 8 else True) if show_progress_bar is None else not show_progress_bar
        outs = []
        try:
            with torch.inference_mode():
                for s in tqdm(starts, desc="embed", unit="batch", disable=disable):
                    x = prepare_batch(src.batch(s, min(s + batch_size, n)), self.config, self.layout, offset=s)
                    x = x.to(dev, non_blocking=True)
                    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                        tokens = self.forward(x)
                    tokens = tokens.float()
                    if output_value == "tokens":
                        z = F.normalize(tokens, dim=-1) if normalize else tokens
                    else:
                        z = self.pool(tokens, self.persons_present(x))
                        z = F.normalize(z, dim=-1) if normalize else z
                    outs.append(z.cpu())
        finally:
            if was_training:
                self.train()
        out = torch.cat(outs)
        bad = ~torch.isfinite(out.reshape(out.shape[0], -1)).all(1)
        if bool(bad.any()):
            rows = torch.nonzero(bad).flatten()
            raise ValueError(
                f"embed: the encoder produced NaN or inf for rows {rows[:5].tolist()} ({rows.numel()} of "
                f"{out.shape[0]}); its weights are not finite or the input overflowed. No embedding is returned"
            )
        return out.numpy() if convert_to_numpy else out

    def embed_windows(self, skeletons: Any, window: int, stride: int | None = None, fps: float | None = None,
                      **kwargs: Any) -> Any:
        """One embedding per sliding window of a long recording (see [`embed_windows`][slimkit.windows.embed_windows]).

        Args:
            skeletons: One recording ``(T, V, C)`` / ``(M, T, V, C)``, or several (anything ``embed`` accepts).
            window: Window length in frames.
            stride: Frames between window starts (default ``window // 2``).
            fps: Frame rate, to report window times in seconds.
            **kwargs: ``batch_size``, ``device``, ``normalize``, ``input_format``, ``precision``,
                ``show_progress_bar``, as in ``embed``.

        Returns:
            A [`WindowEmbeddings`][slimkit.windows.WindowEmbeddings]: ``embeddings (W, D)``, ``sequence``, ``start``,
            ``end`` (exclusive) per window, and ``start_time`` / ``end_time`` given ``fps``.
        """
        return _embed_windows(self, skeletons, window, stride, fps, **kwargs)

    def export(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        """Export ``embed`` on prepared tensors to ONNX (``.onnx``) or ``torch.export`` (``.pt2``).

        See [`slimkit.export.export`][slimkit.export.export]: the graph maps prepared skeletons ``(N, M, T, V, C)``
        (batch size dynamic) to the embeddings ``embed()`` returns; preprocessing stays in numpy
        ([`slimkit.export.prepare`][slimkit.export.prepare]).

        Args:
            path: Output file, ``*.onnx`` or ``*.pt2``.
            **kwargs: ``normalize``, ``opset_version``, passed to [`slimkit.export.export`][slimkit.export.export].

        Returns:
            The path written.
        """
        return _export.export(self, path, **kwargs)

    # ---- Hub (save_pretrained, from_pretrained: slimkit._hub_mixin.HubMixin) ------------------------------
    def generate_model_card(self, **kwargs: Any) -> ModelCard:
        """The model card ``save_pretrained`` writes: layout, frames, preset, tokens, training data, results.

        Args:
            **kwargs: Card fields (``training_data``, ``results``, ``protocol``, ``notes``), over ``card_info``.
        """
        return hub.model_card(self.config, num_tokens=self.num_tokens(), card_info=getattr(self, "card_info", {}),
                              **kwargs)

    def extra_repr(self) -> str:
        c = self.config
        return (f"layout={c.layout}, tokens={c.token_groups}x{self.num_groups}, frames={c.num_frames}, "
                f"t_patch={c.t_patch}, dim={c.dim}, depth={c.depth}, heads={c.heads}")
