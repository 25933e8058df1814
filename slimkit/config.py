"""`SLiMConfig`: every hyper-parameter of a SLiM encoder and its pretraining, as flat JSON-friendly fields.

The config is saved as ``config.json`` next to the weights, so a model always knows its layout, its input
frames and its tokenisation; loading refuses unknown keys and ill-typed values instead of guessing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass
from typing import Any

__all__ = ["SLiMConfig"]

POOLINGS = ("time", "mean", "time_max")


@dataclass
class SLiMConfig:
    """Configuration of a SLiM encoder and of its pretraining.

    Model and input fields:
        layout: Skeleton layout name (see ``slimkit.layouts.list_layouts()``).
        in_channels: Coordinates per joint: 3 (x, y, z) or 2 (x, y). A 2-D model also accepts (x, y, score)
            input, where joints with ``score <= min_score`` are missing.
        num_frames: Frames of the view the encoder sees; every sequence is resampled to it.
        t_patch: Frames per temporal patch (token). ``num_frames`` must be a multiple of it.
        token_groups: ``"part"`` (one token per body part and patch: compact) or ``"joint"`` (one per joint,
            MAMP's tokens).
        max_persons: Persons per sample; extra persons (the least visible ones) are dropped.
        dim, depth, heads, mlp_ratio: Transformer width, blocks, attention heads and MLP expansion.
        drop_path: Stochastic depth rate at the last block (linearly increasing from 0).
        center: Subtract the layout's centre joint(s) of the first person's first valid frame.
        view_align: Rotate 3-D skeletons so the spine points up (+y) and the shoulders along +x.
        normalize_scale: Divide coordinates by their RMS distance from the centre (use it for pixel input).
        min_score: Score threshold for (x, y, score) input.
        pooling: How ``embed()`` pools token features into one vector. ``"time"``: the tokens of each of
            ``time_bins`` equal time bins are averaged over body parts and patches, and the bins are concatenated
            in time order, so the embedding keeps the order of events ("sit down" differs from "stand up");
            width ``dim * time_bins``. ``"time_max"`` (default): those bins followed by the maximum of every
            feature over all tokens, which keeps the peaks that tell fine-grained motions apart ("jump" from
            "jump as high as you can"); width ``dim * (time_bins + 1)``. ``"mean"``: the mean over all tokens
            (width ``dim``; order-blind). A ``config.json`` written before this field existed loads with
            ``"mean"``, the pooling its weights were trained with; one written before ``"time_max"`` keeps the
            pooling it names.
        contrast_pooling: The pooling the contrastive head sees in pretraining (default ``"time_max"``,
            ``"mean"`` in the paper-faithful variant); ``pooling`` only decides what ``embed()`` returns. A
            ``config.json`` without this field trained its head with its ``pooling``.
        time_bins: Number of time bins of ``pooling="time"`` and ``"time_max"``; fixed, so the width does not grow with
            ``num_frames`` and views of any length pool to the same width.

    Pretraining fields:
        mask_ratio: Fraction of tokens masked in the student's view.
        tube_len: Time patches per masking tube.
        mask_type: ``"semantic_tube"`` (SLiM), ``"random"`` or ``"motion"`` (ablation baselines).
        ema_momentum, ema_momentum_end: EMA teacher momentum, cosine-scheduled from the first to the second.
        mfm_weight, glcl_weight: Weights of the masked feature modeling and global-local contrastive losses.
        mfm_loss: Per-token MFM loss: ``"smooth_l1"`` (default), ``"mse"`` or ``"cosine"``.
        mfm_target_norm: Layer-normalise the teacher's token features before MFM compares them (default).
        mfm_target_layers: ``0`` (default): the MFM target is the teacher's output tokens. ``K > 0``: the mean of
            the last ``K`` blocks' outputs, each layer-normalised (data2vec's target), ``K <= depth``.
        mfm_head_blocks: Transformer blocks of the MFM prediction head before its MLP (default 0: MLP only).
        motion_weight: Weight of masked motion prediction (``slimkit.losses.MaskedMotionLoss``): the student's
            masked-view tokens also predict, through a linear head, their joints' frame-to-frame motion,
            standardised per token (MAMP's target). 0 (default) turns it off.
        mfm_target_center: Before that, subtract the batch mean of the teacher's features at each token
            position, so MFM cannot be solved from a token's position alone (default; a ``config.json``
            without this field loads with ``False``, the recipe its weights were trained with).
        temperature: Temperature of the contrastive loss.
        proj_dim: Width of the contrastive projection head's output.
        support_size: ``0`` (default): the positive of a sequence is the teacher key of its other global view.
            ``> 0``: that key is swapped for its nearest neighbour among the last ``support_size`` keys of
            other sequences (NNCLR; [`NearestNeighbourSupport`][slimkit.losses.NearestNeighbourSupport]).
        num_global_views, num_local_views: Temporal views per sequence.
        The defaults (clean-view queries, time-ordered pooling with the token max, MFM at mask ratio 0.9 on
        batch-centred targets, drop path 0.1, no local views) follow measurements on NW-UCLA and Kinder-Gator
        at CPU scale (``benchmarks/RESULTS.md``): local views and the mask ratio were neutral there, and no
        local views halve the step cost. The paper's variant is
        ``contrast_view="masked", pooling="mean", contrast_pooling="mean", num_local_views=2, mask_ratio=0.6``.
        contrast_view: Where the contrastive queries come from. ``"clean"`` (default, measured better): an
            unmasked student forward of the global views (the masked view only feeds MFM), at the cost of one
            more student forward per step. ``"masked"``: the paper-faithful variant, queries pooled from the
            masked student view.
        local_frames: Frames of a local view (0 means ``num_frames // 2``).
        global_crop_min, local_crop_min, local_crop_max: Fractions of the valid frames a crop keeps.
    """

    layout: str = "ntu25"
    in_channels: int = 3
    num_frames: int = 64
    t_patch: int = 4
    token_groups: str = "part"
    max_persons: int = 2
    dim: int = 256
    depth: int = 8
    heads: int = 8
    mlp_ratio: float = 4.0
    drop_path: float = 0.1
    center: bool = True
    view_align: bool = False
    normalize_scale: bool = False
    min_score: float = 0.0
    pooling: str = "time_max"
    contrast_pooling: str = "time_max"
    time_bins: int = 8
    # pretraining
    mask_ratio: float = 0.9
    tube_len: int = 4
    mask_type: str = "semantic_tube"
    ema_momentum: float = 0.996
    ema_momentum_end: float = 1.0
    mfm_weight: float = 1.0
    glcl_weight: float = 1.0
    mfm_loss: str = "smooth_l1"
    mfm_target_norm: bool = True
    mfm_target_center: bool = True
    mfm_target_layers: int = 0
    mfm_head_blocks: int = 0
    motion_weight: float = 0.0
    temperature: float = 0.1
    proj_dim: int = 128
    support_size: int = 0
    num_global_views: int = 2
    num_local_views: int = 0
    contrast_view: str = "clean"
    local_frames: int = 0
    global_crop_min: float = 0.5
    local_crop_min: float = 0.1
    local_crop_max: float = 0.4

    def __post_init__(self) -> None:
        self.validate()

    # ---- presets -------------------------------------------------------------------------------------
    @classmethod
    def tiny(cls, **overrides: Any) -> SLiMConfig:
        """CPU-friendly: width 64, 2 blocks, 32 frames, part tokens (40 tokens per person for ``ntu25``);
        embedding width 576 (8 time bins + the token max, x 64)."""
        return cls(**{**dict(dim=64, depth=2, heads=2, num_frames=32, t_patch=4), **overrides})

    @classmethod
    def small(cls, **overrides: Any) -> SLiMConfig:
        """Width 128, 4 blocks, 64 frames, part tokens (80 tokens per person for ``ntu25``); embedding width
        1,152 (8 time bins + the token max, x 128)."""
        return cls(**{**dict(dim=128, depth=4, heads=4, num_frames=64, t_patch=4), **overrides})

    @classmethod
    def base(cls, **overrides: Any) -> SLiMConfig:
        """MAMP's encoder size (width 256, 8 blocks, 8 heads, MLP 4) on 120 frames in patches of 6, part
        tokens: 100 tokens per person for ``ntu25`` instead of MAMP's 750; embedding width 2,304 (8 time bins
        + the token max, x 256; ``time_bins=4`` makes it 1,280)."""
        return cls(**{**dict(dim=256, depth=8, heads=8, num_frames=120, t_patch=6), **overrides})

    # ---- (de)serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SLiMConfig:
        """Build a config from a dict, refusing unknown keys and values of the wrong type."""
        if not isinstance(d, dict):
            raise TypeError(f"config must be a dict, got {type(d).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if "pooling" not in d:  # written before pooling was a field: those weights were trained mean-pooled
            d = {**d, "pooling": "mean", "contrast_pooling": d.get("contrast_pooling", "mean")}
        if "contrast_pooling" not in d:  # written before it was a field: the head pooled like the embedding
            d = {**d, "contrast_pooling": d["pooling"]}
        if "mfm_target_center" not in d:  # written before it was a field: trained on uncentred targets
            d = {**d, "mfm_target_center": False}
        if "motion_weight" not in d:  # written before it was a field: trained without motion prediction
            d = {**d, "motion_weight": 0.0}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(f"config has unknown keys {unknown}; known keys: {sorted(fields)}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for k, v in d.items():
            kwargs[k] = _coerce(k, v, hints[k])
        return cls(**kwargs)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> SLiMConfig:
        with open(path, encoding="utf-8") as f:
            try:
                d = json.load(f)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from None
            except RecursionError:
                raise ValueError(f"{path}: not a config: JSON nested too deeply") from None
        try:
            return cls.from_dict(d)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{path}: {e}") from None

    def replace(self, **changes: Any) -> SLiMConfig:
        return dataclasses.replace(self, **changes)

    # ---- checks --------------------------------------------------------------------------------------
    def validate(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), hints[f.name]))

        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(msg)

        for key, top in _UPPER_BOUNDS.items():
            value = getattr(self, key)
            need(value <= top, f"{key}: expected at most {top} (a larger value would exhaust memory), got {value}")
        need(self.in_channels in (2, 3), f"in_channels: expected 2 or 3, got {self.in_channels}")
        need(self.t_patch >= 1, f"t_patch: expected >= 1, got {self.t_patch}")
        need(
            self.num_frames >= self.t_patch and self.num_frames % self.t_patch == 0,
            f"num_frames: expected a positive multiple of t_patch={self.t_patch}, got {self.num_frames}",
        )
        need(self.token_groups in ("part", "joint"),
             f"token_groups: expected 'part' or 'joint', got {self.token_groups!r}")
        for key in ("pooling", "contrast_pooling"):
            need(getattr(self, key) in POOLINGS,
                 f"{key}: expected 'time', 'mean' or 'time_max', got {getattr(self, key)!r}")
        need(self.time_bins >= 1, f"time_bins: expected >= 1, got {self.time_bins}")
        need(self.contrast_view in ("clean", "masked"),
             f"contrast_view: expected 'clean' or 'masked', got {self.contrast_view!r}")
        need(self.max_persons >= 1, f"max_persons: expected >= 1, got {self.max_persons}")
        need(self.dim >= 1 and self.heads >= 1 and self.dim % self.heads == 0,
             f"dim: expected a multiple of heads={self.heads}, got {self.dim}")
        need(self.depth >= 1, f"depth: expected >= 1, got {self.depth}")
        need(self.mlp_ratio > 0, f"mlp_ratio: expected > 0, got {self.mlp_ratio}")
        need(0.0 <= self.drop_path < 1.0, f"drop_path: expected in [0, 1), got {self.drop_path}")
        need(0.0 < self.mask_ratio < 1.0, f"mask_ratio: expected in (0, 1), got {self.mask_ratio}")
        need(self.tube_len >= 1, f"tube_len: expected >= 1, got {self.tube_len}")
        need(self.mask_type in ("semantic_tube", "random", "motion"),
             f"mask_type: expected 'semantic_tube', 'random' or 'motion', got {self.mask_type!r}")
        need(0.0 <= self.ema_momentum <= self.ema_momentum_end <= 1.0,
             f"ema_momentum: expected 0 <= ema_momentum <= ema_momentum_end <= 1, got "
             f"{self.ema_momentum}, {self.ema_momentum_end}")
        need(self.mfm_loss in ("smooth_l1", "mse", "cosine"),
             f"mfm_loss: expected 'smooth_l1', 'mse' or 'cosine', got {self.mfm_loss!r}")
        need(isinstance(self.mfm_target_norm, bool),
             f"mfm_target_norm: expected True or False, got {self.mfm_target_norm!r}")
        need(isinstance(self.mfm_target_center, bool),
             f"mfm_target_center: expected True or False, got {self.mfm_target_center!r}")
        need(self.temperature > 0, f"temperature: expected > 0, got {self.temperature}")
        need(0 <= self.mfm_target_layers <= self.depth,
             f"mfm_target_layers: expected 0..depth={self.depth}, got {self.mfm_target_layers}")
        need(self.mfm_head_blocks >= 0, f"mfm_head_blocks: expected >= 0, got {self.mfm_head_blocks}")
        need(self.support_size >= 0, f"support_size: expected >= 0, got {self.support_size}")
        need(0.0 <= self.motion_weight < float("inf"), f"motion_weight: expected >= 0, got {self.motion_weight}")
        need(self.num_global_views >= 1, f"num_global_views: expected >= 1, got {self.num_global_views}")
        need(self.num_local_views >= 0, f"num_local_views: expected >= 0, got {self.num_local_views}")
        need(self.local_frames >= 0, f"local_frames: expected >= 0, got {self.local_frames}")
        need(0.0 < self.global_crop_min <= 1.0, f"global_crop_min: expected in (0, 1], got {self.global_crop_min}")
        need(0.0 < self.local_crop_min <= self.local_crop_max <= 1.0,
             f"local_crop_min/max: expected 0 < min <= max <= 1, got {self.local_crop_min}, {self.local_crop_max}")

    @property
    def embed_dim(self) -> int:
        """Width of the embedding: ``pooled_dim(pooling)``."""
        return self.pooled_dim(self.pooling)

    def pooled_dim(self, pooling: str) -> int:
        """Width of ``pooling``: ``dim * time_bins`` for ``"time"``, ``dim * (time_bins + 1)`` for
        ``"time_max"``, ``dim`` for ``"mean"``."""
        widths = {"time": self.dim * self.time_bins, "time_max": self.dim * (self.time_bins + 1), "mean": self.dim}
        return widths[pooling]

    @property
    def num_patches(self) -> int:
        """Temporal patches of a global view."""
        return self.num_frames // self.t_patch

    @property
    def local_view_frames(self) -> int:
        """Frames of a local view, a multiple of ``t_patch``."""
        f = self.local_frames or self.num_frames // 2
        return max(self.t_patch, f - f % self.t_patch)


# Sane upper bounds, checked before anything is allocated: a config.json with depth=10**6 or dim=10**9 is an
# error naming the key, not an allocator failure. Each is far beyond any useful skeleton encoder.
_UPPER_BOUNDS: dict[str, float] = {
    "dim": 16384,
    "depth": 256,
    "heads": 1024,
    "mlp_ratio": 64.0,
    "num_frames": 100_000,
    "t_patch": 100_000,
    "max_persons": 64,
    "tube_len": 100_000,
    "proj_dim": 65536,
    "support_size": 1_000_000,
    "mfm_head_blocks": 64,
    "num_global_views": 64,
    "num_local_views": 64,
    "local_frames": 100_000,
}


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against a field's annotation; ints are accepted for float fields."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for h in typing.get_args(hint):
            if h is type(None) and value is None:
                return None
            try:
                return _coerce(key, value, h)
            except TypeError:
                continue
        raise TypeError(f"config key {key!r}: expected {hint}, got {type(value).__name__} ({value!r})")
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        name = getattr(hint, "__name__", str(hint))
        raise TypeError(f"config key {key!r}: expected {name}, got {type(value).__name__} ({value!r})")
    return value
