"""[`SkeletonDataset`][slimkit.data.SkeletonDataset]: what every reader returns. Sequences with labels, names, a
layout and named splits; [`subset`][slimkit.data.SkeletonDataset.subset] and
[`to_layout`][slimkit.data.SkeletonDataset.to_layout] share the storage and convert on access."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..layouts import Layout, conversion_matrix, convert_layout, get_layout
from ._common import _Mapped, _resolve_layout

__all__ = ["SkeletonDataset"]


class _ToLayout:
    def __init__(self, source: str, target: str) -> None:
        self.source, self.target = source, target

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return convert_layout(a, self.source, self.target).astype(np.float32)



class SkeletonDataset(Dataset):
    """Skeleton sequences with labels, names, a layout and named splits; a ``torch.utils.data.Dataset``.

    Items are ``(sequence, label)``: ``sequence`` a float32 array ``(M, T, V, C)`` with missing joints, frames
    and persons as ``NaN``; ``label`` an int, ``-1`` when unknown. Sequences may differ in ``T`` (and ``M``);
    batch them with [`collate`][slimkit.data.collate] or [`PrepareCollate`][slimkit.data.PrepareCollate]. A dataset
    can be passed to
    ``SLiMEncoder.embed`` directly.

    Args:
        sequences: Sequences ``(T, V, C)`` or ``(M, T, V, C)``: a list, or any object with ``__len__`` and
            ``__getitem__`` (items are then read on access).
        labels: One int per sequence (``-1`` = unknown); default all ``-1``.
        names: One unique string per sequence; default ``"000000"``, ``"000001"``, ...
        layout: Layout name or [`Layout`][slimkit.layouts.Layout]; default inferred from ``V`` (and ``C``) of
            the first sequence.
        split: Split name -> indices (or names) of its sequences, e.g. ``{"train": [...], "test": [...]}``.
        classes: Class names, ``classes[label]`` naming a label, when known.
        meta: Extra per-sequence values, name -> list or array with one entry per sequence (e.g. the camera
            view).

    Attributes:
        layout: Layout name.
        labels: ``(N,)`` int64 array.
        names: List of ``N`` names.
        split: Dict split name -> int64 index array (empty when the format has no split).
        classes: List of class names or ``None``.
        meta: Dict of per-sequence values.
    """

    def __init__(
        self,
        sequences: Sequence[Any],
        labels: Sequence[int] | np.ndarray | None = None,
        names: Sequence[str] | None = None,
        layout: str | Layout | None = None,
        split: Mapping[str, Sequence[Any]] | None = None,
        classes: Sequence[str] | None = None,
        meta: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        if isinstance(sequences, (np.ndarray, torch.Tensor)) or not (
            hasattr(sequences, "__len__") and hasattr(sequences, "__getitem__")
        ):
            raise TypeError(
                "sequences: expected a list of (T, V, C) / (M, T, V, C) arrays or a sequence-like object, "
                f"got {type(sequences).__name__}; split a batch array with list(array) or use read_npy"
            )
        n = len(sequences)
        if n == 0:
            raise ValueError("sequences: expected at least one sequence, got none")
        if isinstance(sequences, (list, tuple)):
            for i, s in enumerate(sequences):
                shape = np.shape(s)
                if len(shape) not in (3, 4):
                    raise ValueError(
                        f"sequences[{i}]: expected shape (T, V, C) or (M, T, V, C), got {tuple(shape)}"
                    )
            shapes = {tuple(np.shape(s)[-2:]) for s in sequences}
            if len({v for v, _ in shapes}) > 1:
                raise ValueError(
                    f"sequences: all sequences must have the same V, got (V, C) pairs {sorted(shapes)}"
                )
            v, c = np.shape(sequences[0])[-2:]
            self.layout = _resolve_layout(layout, int(v), int(c), "sequences")
        elif layout is None:
            v, c = np.shape(sequences[0])[-2:]
            self.layout = _resolve_layout(None, int(v), int(c), "sequences[0]")
        else:
            self.layout = get_layout(layout).name
        self._source = sequences
        self._index = np.arange(n, dtype=np.int64)
        if labels is None:
            self.labels = np.full(n, -1, dtype=np.int64)
        else:
            lab = np.asarray(labels)
            if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
                raise ValueError(
                    f"labels: expected {n} ints, got an array of shape {lab.shape} and dtype {lab.dtype}"
                )
            self.labels = lab.astype(np.int64)
        self.names = [f"{i:06d}" for i in range(n)] if names is None else [str(s) for s in names]
        if len(self.names) != n:
            raise ValueError(f"names: expected {n} names, got {len(self.names)}")
        if len(set(self.names)) != n:
            raise ValueError("names: expected unique names, got duplicates")
        self.classes = list(classes) if classes is not None else None
        self.meta = {}
        for k, vals in (meta or {}).items():
            if len(vals) != n:
                raise ValueError(f"meta[{k!r}]: expected {n} values, got {len(vals)}")
            self.meta[k] = vals
        self.split = {}
        pos = {name: i for i, name in enumerate(self.names)}
        for k, idx in (split or {}).items():
            self.split[str(k)] = self._split_indices(k, idx, pos, n)

    @staticmethod
    def _split_indices(key: Any, idx: Sequence[Any], pos: dict[str, int], n: int) -> np.ndarray:
        items = list(idx)
        if items and all(isinstance(x, str) for x in items):
            missing = [x for x in items if x not in pos]
            if missing:
                raise ValueError(f"split[{key!r}]: names not in the dataset, e.g. {missing[:3]}")
            return np.array([pos[x] for x in items], dtype=np.int64)
        arr = np.asarray(items, dtype=np.int64) if items else np.zeros(0, dtype=np.int64)
        if arr.ndim != 1 or (arr.size and (arr.min() < 0 or arr.max() >= n)):
            raise ValueError(f"split[{key!r}]: expected indices in 0..{n - 1} or sequence names")
        return arr

    # ---- access ------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"index: expected an int, got {type(i).__name__}; use subset() for several items")
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} sequences")
        j = int(self._index[i])
        a = np.array(self._source[j], dtype=np.float32)
        if a.ndim == 3:
            a = a[None]
        v = get_layout(self.layout).num_joints
        if a.ndim != 4 or a.shape[2] != v:
            raise ValueError(
                f"sequence {self.names[i]!r}: expected shape (M, T, {v}, C) for layout {self.layout!r}, "
                f"got {a.shape}"
            )
        return a, int(self.labels[i])

    @property
    def num_classes(self) -> int:
        """Number of classes: ``len(classes)`` when known, else ``max(label) + 1``."""
        if self.classes is not None:
            return len(self.classes)
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def subset(self, key: str | Sequence[int] | np.ndarray) -> SkeletonDataset:
        """A dataset of some of the sequences, sharing the storage (nothing is copied or re-read).

        Args:
            key: A split name (``"train"``, ``"test"``, ``"xsub_val"``...), indices, or a boolean mask.

        Returns:
            A [`SkeletonDataset`][slimkit.data.SkeletonDataset] with the chosen sequences in the given order; its
            ``split`` keeps each
            split's members that it contains, renumbered.
        """
        n = len(self)
        if isinstance(key, str):
            if key not in self.split:
                raise ValueError(f"key: no split named {key!r}; splits: {sorted(self.split) or 'none'}")
            idx = self.split[key]
        else:
            arr = np.asarray(key)
            if arr.dtype == np.bool_:
                if arr.shape != (n,):
                    raise ValueError(f"key: a boolean mask must have shape ({n},), got {arr.shape}")
                idx = np.flatnonzero(arr)
            elif arr.size == 0:
                idx = np.zeros(0, dtype=np.int64)
            elif np.issubdtype(arr.dtype, np.integer) and arr.ndim == 1:
                if arr.min() < -n or arr.max() >= n:
                    raise IndexError(f"key: indices must lie in -{n}..{n - 1}, got {arr.min()}..{arr.max()}")
                idx = arr % n
            else:
                raise TypeError(
                    f"key: expected a split name, int indices or a bool mask, got {arr.dtype} {arr.shape}"
                )
        idx = np.asarray(idx, dtype=np.int64)
        out = copy.copy(self)
        out._index = self._index[idx]
        out.labels = self.labels[idx]
        out.names = [self.names[i] for i in idx]
        out.meta = {
            k: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]) for k, v in self.meta.items()
        }
        out.split = {k: np.flatnonzero(np.isin(idx, v)) for k, v in self.split.items()}
        return out

    def to_layout(self, target: str | Layout) -> SkeletonDataset:
        """The same sequences converted to another layout (see
        [`slimkit.layouts.convert_layout`][slimkit.layouts.convert_layout]).

        Args:
            target: Target layout; joints the source lacks come out ``NaN``.

        Returns:
            A [`SkeletonDataset`][slimkit.data.SkeletonDataset] that converts each sequence on access.
        """
        tgt = get_layout(target).name
        if tgt == self.layout:
            return self
        conversion_matrix(self.layout, tgt)  # raises now, not at the first item, when there is no conversion
        out = self.subset(np.arange(len(self)))
        out._source = _Mapped(self._source, _ToLayout(self.layout, tgt))
        out.layout = tgt
        return out

    def __repr__(self) -> str:
        split = {k: len(v) for k, v in self.split.items()}
        ncls = len(self.classes) if self.classes is not None else None
        return f"SkeletonDataset(n={len(self)}, layout={self.layout!r}, classes={ncls}, split={split})"

