"""Random numbers for the masks and augmentations: [`PerSampleGenerator`][slimkit.transforms.PerSampleGenerator]
(draws keyed by sample, so a sample gets the same views wherever it is processed), uniform and normal draws from
any supported generator, and the device a draw lands on."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["PerSampleGenerator"]

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


def _sample_device(generator: Generator, device: torch.device | str | None) -> torch.device:
    """The device of a draw: ``device`` when given, else the keys' device of a
    [`PerSampleGenerator`][slimkit.transforms.PerSampleGenerator], else the CPU."""
    if device is not None:
        return torch.device(device)
    if isinstance(generator, PerSampleGenerator):
        return generator.keys.device
    return torch.device("cpu")
