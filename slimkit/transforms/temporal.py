"""Temporal views: [`TemporalCrop`][slimkit.transforms.TemporalCrop], a random crop of the valid frames resampled
to a fixed length."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._arrays import nan_lerp
from .._utils import check_positive_int
from .compose import _to_batch
from .random import Generator, _uniform

__all__ = ["TemporalCrop"]


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
        self.num_frames = check_positive_int(num_frames, "num_frames")
        if not 0 < min_scale <= max_scale <= 1:
            raise ValueError(
                f"min_scale, max_scale: expected 0 < min_scale <= max_scale <= 1, got "
                f"{min_scale}, {max_scale}"
            )
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)
        self.min_frames = check_positive_int(min_frames, "min_frames")

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

        return restore(nan_lerp(take(lo), take(hi), w))

    def __repr__(self) -> str:
        return (
            f"TemporalCrop(num_frames={self.num_frames}, min_scale={self.min_scale}, "
            f"max_scale={self.max_scale}, min_frames={self.min_frames})"
        )
