"""What the pretraining loader reads: cleaned sequences of one data set or of a weighted corpus of several, in a
resumable, seeded order.

* [`PretrainDataset`][slimkit.train.PretrainDataset]: items ``(sequence, index)``, cleaned by
  [`standardize`][slimkit.preprocessing.standardize] and padded to ``max_persons``;
* [`pretrain_collate`][slimkit.train.pretrain_collate]: a batch padded in time with ``NaN``, with the valid
  lengths and the dataset indices (the key of every per-sample random draw);
* [`CorpusSource`][slimkit.train.CorpusSource] and [`corpus_source`][slimkit.train.corpus.corpus_source]: several
  data sets, each converted to the model's layout, read as one, with per-item sampling weights;
* [`ResumableSampler`][slimkit.train.corpus.ResumableSampler] /
  [`WeightedResumableSampler`][slimkit.train.corpus.WeightedResumableSampler]: a ``DistributedSampler`` that can
  start in the middle of an epoch, and its with-replacement variant for weighted corpora.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from .._arrays import pad_persons, pad_time
from ..config import SLiMConfig
from ..data import SkeletonDataset, load
from ..layouts import get_layout
from ..preprocessing import SequenceSource, standardize

__all__ = [
    "PretrainDataset",
    "pretrain_collate",
    "CorpusSource",
    "corpus_source",
    "is_corpus",
    "ResumableSampler",
    "WeightedResumableSampler",
]


class PretrainDataset(Dataset):
    """Items ``(sequence (max_persons, T', V, C) float32 tensor, index)``: cleaned, not resampled.

    Args:
        source: A [`SequenceSource`][slimkit.preprocessing.SequenceSource].
        config: The encoder's config (cleaning options, layout, persons).
        name: Name used in error messages.
    """

    def __init__(self, source: SequenceSource, config: SLiMConfig, name: str = "train_data") -> None:
        self.source, self.config, self.name = source, config, name
        self.layout = get_layout(config.layout)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        seq = self.source.batch(index, index + 1)[0]
        a = standardize(seq, self.config, self.layout, name=f"{self.name}[{index}]")
        return torch.from_numpy(pad_persons(a, self.config.max_persons)), index


def pretrain_collate(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch [`PretrainDataset`][slimkit.train.PretrainDataset] items, padded in time with ``NaN``.

    Returns:
        ``(x (N, M, T_max, V, C) float32, lengths (N,) int64, index (N,) int64)``.
    """
    x, lengths = pad_time([x for x, _ in items])
    index = torch.tensor([i for _, i in items], dtype=torch.long)
    return torch.from_numpy(x), torch.from_numpy(lengths), index


class CorpusSource:
    """Several sources read as one: items ``0..len(a)-1`` from the first, then the second, and so on.

    Args:
        sources: [`SequenceSource`][slimkit.preprocessing.SequenceSource] objects, all in the model's layout.
    """

    def __init__(self, sources: Sequence[SequenceSource]) -> None:
        self.sources = list(sources)
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources])
        self.name = "train_data"

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """``(source number, index within it)`` of a corpus index."""
        k = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return k, index - int(self.offsets[k])

    def batch(self, start: int, stop: int) -> list[np.ndarray]:
        out = []
        for i in range(start, stop):
            k, j = self.locate(i)
            out.extend(self.sources[k].batch(j, j + 1))
        return out


def is_corpus(data: Any) -> bool:
    """A list of data sets (``SkeletonDataset`` objects or paths), as opposed to a list of sequences."""
    return isinstance(data, (list, tuple)) and len(data) > 0 and all(
        isinstance(d, (SkeletonDataset, str, os.PathLike)) for d in data
    )


def corpus_source(data: Any, weights: Sequence[float] | None, config: SLiMConfig,
                  input_format: str = "auto") -> tuple[CorpusSource, torch.Tensor | None, list[str]]:
    """Sources of a multi-set corpus, each in the model's layout, and per-item sampling weights.

    Args:
        data: A list of data sets: ``SkeletonDataset`` objects, paths that ``slimkit.data.load`` reads, or
            lists of sequences.
        weights: One non-negative weight per data set (positive sum), or ``None`` to sample in proportion to
            the sets' sizes.
        config: The encoder's config (layout, channels).
        input_format: Axis order of array data sets (see ``SequenceSource``).

    Returns:
        ``(source, per-item probabilities (float64) or None, names of the sets)``.
    """
    if not isinstance(data, (list, tuple)) or not data:
        raise TypeError(
            f"train_data: with dataset_weights, expected a list of data sets, got {type(data).__name__}"
        )
    if weights is not None:
        w = [float(x) for x in weights]
        if len(w) != len(data) or not all(math.isfinite(x) and x >= 0 for x in w) or sum(w) <= 0:
            raise ValueError(
                f"dataset_weights: expected {len(data)} non-negative weights (one per data set) with a "
                f"positive sum, got {list(weights)!r}"
            )
    num_joints = get_layout(config.layout).num_joints
    sources, names = [], []
    for k, d in enumerate(data):
        name = f"train_data[{k}]"
        if isinstance(d, (str, os.PathLike)):
            name = str(d)
            d = load(d)
        if isinstance(d, SkeletonDataset) and d.layout != config.layout:
            d = d.to_layout(config.layout)
        sources.append(SequenceSource(d, input_format, num_joints, config.in_channels, name=name))
        names.append(name)
    src = CorpusSource(sources)
    if weights is None:
        return src, None, names
    sizes = np.diff(src.offsets)
    per_item = np.concatenate([np.full(n, wk / sum(w) / n) for wk, n in zip(w, sizes, strict=True)])
    return src, torch.as_tensor(per_item, dtype=torch.float64), names


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (shuffled per epoch, ``drop_last``) that can start in the middle of an epoch.

    Set ``start`` (items of this process's shard to skip) after ``set_epoch`` to resume.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.start = 0

    def __iter__(self):
        return iter(list(super().__iter__())[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start


class WeightedResumableSampler(ResumableSampler):
    """Draws each epoch's items with replacement, item ``i`` with probability ``item_weights[i]`` (set so that
    each data set of a corpus gets its stated share), from a generator seeded by ``(seed, epoch)``: every
    process draws the same list and takes its own shard, and a resumed run draws it again identically."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int,
                 item_weights: torch.Tensor) -> None:
        super().__init__(dataset, num_replicas, rank, seed)
        self.item_weights = item_weights

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        idx = torch.multinomial(self.item_weights, self.total_size, replacement=True, generator=g).tolist()
        return iter(idx[self.rank : self.total_size : self.num_replicas][self.start :])
