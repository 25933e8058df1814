"""Batching: [`collate`][slimkit.data.collate] pads raw items of different lengths (time padding is
[`slimkit.preprocessing.pad_time`][slimkit.preprocessing.pad_time]); [`PrepareCollate`][slimkit.data.PrepareCollate]
runs the encoder's whole preprocessing ([`prepare_batch`][slimkit.preprocessing.prepare_batch]) on each batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._arrays import pad_time
from ..layouts import Layout
from ..preprocessing import prepare_batch

__all__ = ["collate", "PrepareCollate"]


def collate(
    batch: Sequence[tuple[Any, int]], pad_value: float = float("nan")
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DataLoader ``collate_fn`` for items of different lengths: pad and stack.

    Persons and frames are padded at the end with ``pad_value`` (default ``NaN``, the package's "missing",
    which ``SLiMEncoder.embed`` ignores, so a padded batch embeds like its unpadded items).

    Args:
        batch: ``(sequence (M, T, V, C) or (T, V, C), label)`` items, e.g. from a
            [`SkeletonDataset`][slimkit.data.SkeletonDataset].
        pad_value: Value of the padding.

    Returns:
        ``(x, lengths, labels)``: float32 ``(N, M_max, T_max, V, C)``, int64 ``(N,)`` frames of each item
        before padding, int64 ``(N,)`` labels.
    """
    if len(batch) == 0:
        raise ValueError("batch: expected at least one item, got none")
    seqs, labels = [], []
    for i, item in enumerate(batch):
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"batch[{i}]: expected a (sequence, label) pair, got {type(item).__name__}")
        a = np.asarray(item[0], dtype=np.float32)
        a = a[None] if a.ndim == 3 else a
        if a.ndim != 4:
            raise ValueError(
                f"batch[{i}]: expected a sequence (T, V, C) or (M, T, V, C), got shape {a.shape}"
            )
        seqs.append(a)
        labels.append(int(item[1]))
    vc = {s.shape[2:] for s in seqs}
    if len(vc) > 1:
        raise ValueError(f"batch: items differ in (V, C): {sorted(vc)}")
    x, lengths = pad_time(seqs, pad_value)
    return torch.from_numpy(x), torch.from_numpy(lengths), torch.tensor(labels, dtype=torch.int64)


class PrepareCollate:
    """DataLoader ``collate_fn`` that runs the encoder's preprocessing on each batch.

    Gives ``(x, labels)`` with ``x`` the ``(N, max_persons, num_frames, V, C)`` tensor that
    ``SLiMEncoder.forward`` reads (see [`slimkit.preprocessing.prepare_batch`][slimkit.preprocessing.prepare_batch]).

    Args:
        config: The encoder's [`SLiMConfig`][slimkit.config.SLiMConfig] (frames, persons, centring...).
        layout: Layout of the data; default ``config.layout``.
    """

    def __init__(self, config: Any, layout: str | Layout | None = None) -> None:
        self.config = config
        self.layout = layout

    def __call__(self, batch: Sequence[tuple[Any, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        x = prepare_batch([np.asarray(s) for s, _ in batch], self.config, self.layout)
        return x, torch.tensor([int(y) for _, y in batch], dtype=torch.int64)

