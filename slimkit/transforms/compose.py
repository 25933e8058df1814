"""The base of the augmentations, [`Transform`][slimkit.transforms.Transform] (numpy or torch, single sequence or
batch, in and out), and [`Compose`][slimkit.transforms.Compose]."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .random import Generator

__all__ = ["Transform", "Compose"]


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
