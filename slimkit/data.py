"""Read skeleton data sets in their original formats into one [`SkeletonDataset`][slimkit.data.SkeletonDataset].

``load(path)`` recognises the format of a file or a folder and returns a
[`SkeletonDataset`][slimkit.data.SkeletonDataset] whose items
are ``(sequence, label)``: ``sequence`` is a float32 numpy array ``(M, T, V, C)`` (persons, frames, joints,
channels), ``label`` an int (``-1`` when unknown). Supported formats and their readers:

| format | reader | layout |
|---|---|---|
| NTU RGB+D `.skeleton` (file or folder) | `read_ntu_skeleton` | `ntu25` |
| CTR-GCN / MAMP `.npz` | `read_npz` | `ntu25` (default) |
| pyskl / mmaction2 annotation `.pkl` | `read_pyskl` | from V and C |
| NW-UCLA `.json` (file or `all_sqe/`) | `read_nwucla` | `kinect20` |
| Penn Action `.mat` (file or `labels/`) | `read_penn_action` | `penn13` |
| plain `.npy` (file or folder) | `read_npy` | from V and C |

One convention for every reader: **missing is NaN**. A joint is missing when the file says so (Penn Action
visibility 0, a pyskl keypoint score ``<= min_score``) or when all of its coordinates are exactly 0 (the
zero filling that NTU-style files use for absent persons and frames). Person slots are kept as the source
stores them (an absent second person of a CTR-GCN row is an all-NaN person); zero-padded frames at the end of
fixed-length arrays are cut off, so ``T`` differs between items.

Pickles can run arbitrary code when loaded: [`read_pyskl`][slimkit.data.read_pyskl] therefore unpickles
through a restricted unpickler that admits only builtin containers and numpy arrays, dtypes and scalars (what
pyskl files hold) and refuses any other object with an error naming it. ``trust_pickle=True``
(``--trust-pickle`` on the command line) lifts the restriction, for files you made yourself or trust.
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ._errors import names_file
from .layouts import Layout, conversion_matrix, convert_layout, get_layout

__all__ = [
    "SkeletonDataset",
    "load",
    "collate",
    "PrepareCollate",
    "read_ntu_skeleton",
    "read_ntu_skeleton_file",
    "read_npz",
    "read_pyskl",
    "read_nwucla",
    "read_penn_action",
    "read_npy",
    "write_pyskl",
    "NWUCLA_CLASSES",
    "PENN_ACTION_CLASSES",
]

PathLike = Union[str, "os.PathLike[str]"]

NWUCLA_CLASSES = (
    "pick up with one hand",
    "pick up with two hands",
    "drop trash",
    "walk around",
    "sit down",
    "stand up",
    "donning",
    "doffing",
    "throw",
    "carry",
)
"""NW-UCLA class names in label order (action ids 1, 2, 3, 4, 5, 6, 8, 9, 11, 12)."""
_NWUCLA_ACTION_IDS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)

PENN_ACTION_CLASSES = tuple(sorted(
    "baseball_pitch baseball_swing bench_press bowl clean_and_jerk golf_swing jump_rope jumping_jacks pullup "
    "pushup situp squat strum_guitar tennis_forehand tennis_serve".split()
))  # fmt: skip
"""Penn Action's 15 action names, sorted; a label is the index in this tuple."""

# NTU RGB+D protocols (Shahroudy et al. 2016, Liu et al. 2019): training subjects, cameras and setups.
_NTU_TRAIN_SUBJECTS = frozenset(int(s) for s in (
    "1 2 4 5 8 9 13 14 15 16 17 18 19 25 27 28 31 34 35 38 45 46 47 49 50 52 53 54 55 56 57 58 59 70 74 78 "
    "80 81 82 83 84 85 86 89 91 92 93 94 95 97 98 100 103"
).split())  # fmt: skip
_NTU_TRAIN_CAMERAS = frozenset((2, 3))
_NTU_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
# Body denoising thresholds of the NTU preprocessing used by SGN / CTR-GCN / MS-G3D.
_NOISE_MIN_FRAMES = 11
_NOISE_SPREAD_XY = 0.8
_NOISE_SPREAD_RATE = 0.69754

_LAYOUT_BY_JOINTS = {25: "ntu25", 20: "kinect20", 18: "openpose18", 13: "penn13"}
_SUFFIXES = {
    ".skeleton": "ntu",
    ".npz": "npz",
    ".pkl": "pyskl",
    ".pickle": "pyskl",
    ".json": "nwucla",
    ".mat": "penn",
    ".npy": "npy",
}


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------
def _path(path: Any, arg: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{arg}: expected a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{arg}: {p} does not exist")
    return p


def _mark_missing(a: np.ndarray) -> np.ndarray:
    """Set joints that are all-zero or non-finite to NaN, in place; ``a`` is float ``(..., V, C)``."""
    a[~np.isfinite(a).all(-1) | (a == 0).all(-1)] = np.nan
    return a


def _trim_trailing(a: np.ndarray) -> np.ndarray:
    """Cut the frames at the end of ``(M, T, V, C)`` with no valid joint (zero padding); keep at least one."""
    valid = np.isfinite(a).all(-1).any(axis=(0, 2))
    last = int(np.flatnonzero(valid)[-1]) + 1 if valid.any() else 1
    return a[:, :last]


def _infer_layout(v: int, c: int, where: str) -> str:
    if v == 17:
        if c == 2:
            return "coco17"
        raise ValueError(
            f"{where}: 17 joints with C={c} is ambiguous (coco17 keypoints with scores, or h36m17 3-D); "
            "pass layout='coco17' or layout='h36m17'"
        )
    if v in _LAYOUT_BY_JOINTS:
        return _LAYOUT_BY_JOINTS[v]
    raise ValueError(
        f"{where}: cannot tell the layout of V={v} joints (known from V alone: "
        f"{dict(sorted(_LAYOUT_BY_JOINTS.items()))}, and coco17 for V=17, C=2); pass layout=..."
    )


def _resolve_layout(layout: str | Layout | None, v: int, c: int, where: str) -> str:
    """The layout name for data with ``V=v`` joints and ``C=c`` channels: given (checked) or inferred."""
    if layout is None:
        return _infer_layout(v, c, where)
    lay = get_layout(layout)
    if lay.num_joints != v:
        raise ValueError(
            f"{where}: layout {lay.name!r} has {lay.num_joints} joints, but the data has V={v} joints"
        )
    return lay.name


def _fixed_layout(layout: str | Layout | None, native: str, where: str) -> str:
    if layout is not None and get_layout(layout).name != native:
        raise ValueError(
            f"layout: {where} is in the {native!r} layout, got layout={get_layout(layout).name!r}; "
            f"read it as {native!r} and convert with dataset.to_layout({get_layout(layout).name!r})"
        )
    return native


class _Lazy(Sequence):
    """A read-only sequence whose item ``i`` is ``fn(i)``: files parsed or rows converted on access."""

    def __init__(self, n: int, fn: Callable[[int], np.ndarray]) -> None:
        self._n, self._fn = n, fn

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        return self._fn(i)


class _Mapped(Sequence):
    """``source`` with ``fn`` applied to each item on access (picklable for DataLoader workers)."""

    def __init__(self, source: Sequence, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        self._source, self._fn = source, fn

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        return self._fn(self._source[i])


class _ToLayout:
    def __init__(self, source: str, target: str) -> None:
        self.source, self.target = source, target

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return convert_layout(a, self.source, self.target).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# the dataset
# ---------------------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------------------
# batching
# ---------------------------------------------------------------------------------------------------------
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
    m = max(s.shape[0] for s in seqs)
    t = max(s.shape[1] for s in seqs)
    x = np.full((len(seqs), m, t) + seqs[0].shape[2:], pad_value, dtype=np.float32)
    for i, s in enumerate(seqs):
        x[i, : s.shape[0], : s.shape[1]] = s
    lengths = torch.tensor([s.shape[1] for s in seqs], dtype=torch.int64)
    return torch.from_numpy(x), lengths, torch.tensor(labels, dtype=torch.int64)


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
        from .preprocessing import prepare_batch

        x = prepare_batch([np.asarray(s) for s, _ in batch], self.config, self.layout)
        return x, torch.tensor([int(y) for _, y in batch], dtype=torch.int64)


# ---------------------------------------------------------------------------------------------------------
# NTU RGB+D .skeleton
# ---------------------------------------------------------------------------------------------------------
def _parse_ntu(path: Path) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], int]:
    """Bodies ``(body_id, frame indices, joints (n, 25, 3))`` over the non-empty frames, and their count."""
    where = str(path)
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: not a text .skeleton file ({e})") from None

    def num(line_no: int) -> int:
        try:
            value = int(lines[line_no].split()[0])
        except (IndexError, ValueError):
            got = lines[line_no] if line_no < len(lines) else "the end of the file"
            raise ValueError(f"{where}: line {line_no + 1}: expected a count, got {got!r}") from None
        if value < 0:
            raise ValueError(f"{where}: line {line_no + 1}: expected a count >= 0, got {value}")
        return value

    # Walk the structure first (counts and body lines), then parse all joint lines in one C call.
    body_ids: list[str] = []
    body_frames: list[int] = []
    starts: list[int] = []
    pos, t = 1, 0
    for _ in range(num(0)):
        n_bodies = num(pos)
        pos += 1
        for _ in range(n_bodies):
            if pos >= len(lines) or not lines[pos].split():
                raise ValueError(
                    f"{where}: line {pos + 1}: expected a body line, got the end of the file or a blank"
                )
            n_joints = num(pos + 1)
            if n_joints != 25:
                raise ValueError(f"{where}: line {pos + 2}: expected 25 joints (Kinect v2), got {n_joints}")
            if pos + 2 + n_joints > len(lines):
                raise ValueError(f"{where}: the file ends inside the joints of the body on line {pos + 1}")
            body_ids.append(lines[pos].split()[0])
            body_frames.append(t)
            starts.append(pos + 2)
            pos += 2 + n_joints
        if n_bodies:
            t += 1  # frames without any body are dropped, as in the CTR-GCN / pyskl preprocessing
    extra = next((i for i in range(pos, len(lines)) if lines[i].strip()), None)
    if extra is not None:
        raise ValueError(
            f"{where}: line {extra + 1}: the file declares {num(0)} frames, which end on line {pos}, but more "
            "data follows (a wrong frame count or trailing garbage)"
        )
    if not starts:
        return [], 0
    joint_lines = [line for s in starts for line in lines[s : s + 25]]
    try:
        xyz = np.loadtxt(joint_lines, usecols=(0, 1, 2), dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise ValueError(
            f"{where}: expected joint lines of 12 numbers (x y z depthX depthY colorX colorY orientation(4) "
            f"trackingState): {e}"
        ) from None
    xyz = xyz.reshape(len(starts), 25, 3)
    ids = np.array(body_ids)
    frames = np.array(body_frames)
    bodies = []
    for b in dict.fromkeys(body_ids):  # first-seen order
        sel = ids == b
        bodies.append((b, frames[sel], xyz[sel]))
    return bodies, t


def _body_motion(j: np.ndarray) -> float:
    return float(np.var(j.reshape(-1, 3), axis=0).sum())


def _select_bodies(
    bodies: list[tuple[str, np.ndarray, np.ndarray]], max_bodies: int
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Denoise and rank bodies; return up to ``max_bodies`` actor slots of ``(frames, joints)`` tracks."""
    motion = {b: _body_motion(j) for b, _, j in bodies}
    if len(bodies) > 1:
        # 1. Kinect often "sees" a body for a few frames (furniture, reflections): drop short tracks.
        kept = [b for b in bodies if len(b[1]) > _NOISE_MIN_FRAMES]
        bodies = kept or [max(bodies, key=lambda b: len(b[1]))]
    if len(bodies) > 1:
        # 2. A person is taller than wide; a track that is mostly wider than tall is not a person.
        kept = []
        for b, f, j in bodies:
            spread = j.max(axis=1) - j.min(axis=1)
            ok = spread[:, 0] <= _NOISE_SPREAD_XY * spread[:, 1]
            if 1.0 - ok.mean() >= _NOISE_SPREAD_RATE:
                continue
            if not ok.all():
                motion[b] = min(motion[b], _body_motion(j[ok]))
            kept.append((b, f, j))
        bodies = kept or [max(bodies, key=lambda b: motion[b[0]])]
    # 3. The most active body is actor 1. Kinect renumbers a person it lost and found again, so a later
    #    track that does not overlap an actor's frames in time continues that actor.
    bodies = sorted(bodies, key=lambda b: -motion[b[0]])
    slots: list[list[tuple[np.ndarray, np.ndarray]]] = []
    spans: list[tuple[int, int]] = []
    for _, f, j in bodies:
        lo, hi = int(f[0]), int(f[-1])
        for s, (a, b) in enumerate(spans):
            if hi < a or lo > b:
                slots[s].append((f, j))
                spans[s] = (min(a, lo), max(b, hi))
                break
        else:
            if len(slots) < max_bodies:
                slots.append([(f, j)])
                spans.append((lo, hi))
    return slots


@names_file("NTU .skeleton")
def read_ntu_skeleton_file(path: PathLike, max_bodies: int = 2) -> np.ndarray:
    """Read one NTU RGB+D ``.skeleton`` file into ``(M, T, 25, 3)`` float32 camera-space metres.

    Frames in which Kinect saw no body are dropped. With several bodies, noise tracks are removed as in the
    NTU preprocessing of SGN / CTR-GCN (tracks of at most 11 frames; tracks wider than tall in at least
    69.754 % of their frames), the remaining bodies are ranked by motion (summed variance of their joints)
    and up to ``max_bodies`` actors are kept; a later track that does not overlap an actor in time continues
    it. ``M`` is the number of actors found (1 to ``max_bodies``); frames in which an actor is absent are
    ``NaN``, as are all-zero joints.

    Args:
        path: The ``.skeleton`` file.
        max_bodies: Most actors to keep.

    Returns:
        float32 array ``(M, T, 25, 3)``.
    """
    p = _path(path)
    if not isinstance(max_bodies, int) or max_bodies < 1:
        raise ValueError(f"max_bodies: expected a positive int, got {max_bodies!r}")
    bodies, t = _parse_ntu(p)
    if not bodies:
        raise ValueError(f"{p}: no body in any frame (NTU lists such samples as missing skeletons)")
    slots = _select_bodies(bodies, max_bodies)
    out = np.full((len(slots), t, 25, 3), np.nan, dtype=np.float32)
    for s, tracks in enumerate(slots):
        for f, j in tracks:
            out[s, f] = j
    _mark_missing(out)
    valid = np.isfinite(out).all(-1).any(axis=(0, 2))
    return out[:, valid] if valid.any() else out[:, :1]


def _ntu_fields(name: str) -> dict[str, int] | None:
    m = _NTU_NAME.search(name)
    if not m:
        return None
    return dict(
        zip(("setup", "camera", "subject", "replication", "action"), map(int, m.groups()), strict=True)
    )


@names_file("NTU .skeleton")
def read_ntu_skeleton(
    path: PathLike, max_bodies: int = 2, ignore: Iterable[str] = (), layout: str | Layout | None = None
) -> SkeletonDataset:
    """Read an NTU RGB+D (60 or 120) ``.skeleton`` file or a folder of them.

    Labels (``A`` number - 1), the subject, camera, setup and the splits come from the file names
    (``SsssCcccPpppRrrrAaaa``): ``xsub_train`` / ``xsub_val`` (the training subjects of NTU-120, which
    contain those of NTU-60), ``xview_train`` / ``xview_val`` (cameras 2, 3 train) and ``xset_train`` /
    ``xset_val`` (even setups train, NTU-120). A folder is read lazily: a file is parsed when its item is
    accessed; see [`read_ntu_skeleton_file`][slimkit.data.read_ntu_skeleton_file] for the body selection.

    Args:
        path: A ``.skeleton`` file or a folder holding them.
        max_bodies: Most actors kept per sequence.
        ignore: Sample names (without ``.skeleton``) to leave out, e.g. NTU's list of samples with missing
            skeletons.
        layout: Must be ``None`` or ``"ntu25"``.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset] in the ``ntu25`` layout.
    """
    p = _path(path)
    lay = _fixed_layout(layout, "ntu25", str(p))
    skip = set(ignore)
    files = sorted(f for f in p.glob("*.skeleton") if f.stem not in skip) if p.is_dir() else [p]
    if not files:
        raise ValueError(f"path: no .skeleton files in {p}")
    names = [f.stem for f in files]
    fields = [_ntu_fields(n) for n in names]
    labels = [f["action"] - 1 if f else -1 for f in fields]
    meta = {
        k: np.array([f[k] if f else -1 for f in fields])
        for k in ("setup", "camera", "subject", "replication")
    }
    split: dict[str, list[int]] = {}
    if all(fields):
        rules = {
            "xsub": np.isin(meta["subject"], list(_NTU_TRAIN_SUBJECTS)),
            "xview": np.isin(meta["camera"], list(_NTU_TRAIN_CAMERAS)),
            "xset": meta["setup"] % 2 == 0,
        }
        for k, train in rules.items():
            split[f"{k}_train"] = np.flatnonzero(train).tolist()
            split[f"{k}_val"] = np.flatnonzero(~train).tolist()
    if p.is_dir():
        seqs: Sequence[Any] = _Lazy(len(files), _NtuFile(files, max_bodies))
    else:
        seqs = [read_ntu_skeleton_file(p, max_bodies)]
    return SkeletonDataset(seqs, labels, names, lay, split, meta=meta)


class _NtuFile:
    def __init__(self, files: list[Path], max_bodies: int) -> None:
        self.files, self.max_bodies = files, max_bodies

    def __call__(self, i: int) -> np.ndarray:
        return read_ntu_skeleton_file(self.files[i], self.max_bodies)


# ---------------------------------------------------------------------------------------------------------
# CTR-GCN / MAMP .npz
# ---------------------------------------------------------------------------------------------------------
def _npz_member(path: Path, key: str) -> np.ndarray:
    """Array ``key`` of an ``.npz``: memory-mapped when stored uncompressed (``np.savez``), else read; sizes
    and CRC checked (see ``slimkit._npz``)."""
    from ._npz import npz_member

    return npz_member(path, key)


class _NpzRows:
    def __init__(self, path: Path, key: str, m: int, v: int, c: int) -> None:
        self.path, self.key, self.m, self.v, self.c = path, key, m, v, c
        self._x: np.ndarray | None = None

    @property
    def x(self) -> np.ndarray:
        if self._x is None:
            self._x = _npz_member(self.path, self.key)
        return self._x

    def __getstate__(self) -> dict[str, Any]:
        # A memory map would be pickled with its whole content (DataLoader workers under "spawn"): reopen it.
        return {**self.__dict__, "_x": None}

    def __call__(self, i: int) -> np.ndarray:
        row = np.array(self.x[i], dtype=np.float32)  # (T, M*V*C)
        a = row.reshape(row.shape[0], self.m, self.v, self.c).transpose(1, 0, 2, 3)
        return _trim_trailing(_mark_missing(np.ascontiguousarray(a)))


@names_file(".npz")
def read_npz(
    path: PathLike, layout: str | Layout | None = None, num_persons: int = 2, channels: int = 3
) -> SkeletonDataset:
    """Read a CTR-GCN / MAMP ``.npz``: ``x_train``, ``y_train``, ``x_test``, ``y_test``.

    Rows ``(T, M*V*C)`` (``(N, 300, 150)`` for NTU: 2 persons x 25 joints x 3) become ``(M, T, V, C)``;
    the zero padding after the last valid frame is cut off, a person's all-zero frames (the absent second
    actor) and all-zero joints are ``NaN``. Caveat: these files are centred on actor 1's spine-mid joint in
    the first frame, which is therefore exactly 0 there and reads as missing (one joint, one frame).
    Labels are the argmax of the one-hot ``y_*``; splits ``train`` and ``test``; names ``train_00000``...
    Uncompressed files are memory-mapped and rows are converted on access, so a 7 GB file costs no RAM; each
    array's size is checked against its header and its zip CRC-32 is verified once when the file is opened
    (streamed: about 2 GB/s from the page cache, measured). Compressed arrays are read into memory, and one
    that would inflate above 64 MiB at more than 200:1 is refused.

    Args:
        path: The ``.npz`` file.
        layout: Layout of the joints; default ``ntu25``.
        num_persons: Persons per row (``M``).
        channels: Coordinates per joint (``C``).

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset].
    """
    p = _path(path)
    lay = get_layout(layout or "ntu25")
    from ._npz import npz_keys, npz_member

    keys = npz_keys(p)
    parts = [s for s in ("train", "test") if f"x_{s}" in keys]
    if not parts:
        raise ValueError(
            f"{p}: expected arrays x_train / x_test (and y_train / y_test), found {sorted(keys)}"
        )
    sources: list[Sequence[Any]] = []
    labels, names, split = [], [], {}
    start = 0
    for s in parts:
        x = _npz_member(p, f"x_{s}")
        if x.ndim != 3 or x.shape[2] != num_persons * lay.num_joints * channels:
            raise ValueError(
                f"{p}: x_{s}: expected shape (N, T, {num_persons * lay.num_joints * channels}) for "
                f"{num_persons} persons x {lay.num_joints} joints ({lay.name}) x {channels}, got {x.shape}"
            )
        n = x.shape[0]
        if f"y_{s}" in keys:
            y = np.asarray(npz_member(p, f"y_{s}", mmap=False))
            if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
                raise ValueError(f"{p}: y_{s}: expected numeric labels, got dtype {y.dtype}")
            y = y.argmax(-1) if y.ndim == 2 and y.shape[1] > 0 else y
            if y.shape != (n,):
                raise ValueError(f"{p}: y_{s}: expected {n} labels (one-hot or ints), got shape {y.shape}")
        else:
            y = np.full(n, -1)
        rows = _NpzRows(p, f"x_{s}", num_persons, lay.num_joints, channels)
        rows._x = x
        sources.append(_Lazy(n, rows))
        labels.append(y.astype(np.int64))
        names += [f"{s}_{i:05d}" for i in range(n)]
        split[s] = list(range(start, start + n))
        start += n
    seqs = sources[0] if len(sources) == 1 else _Concat(sources)
    return SkeletonDataset(seqs, np.concatenate(labels), names, lay, split)


class _Concat(Sequence):
    def __init__(self, parts: list[Sequence[Any]]) -> None:
        self.parts = parts
        self.ends = np.cumsum([len(q) for q in parts])

    def __len__(self) -> int:
        return int(self.ends[-1])

    def __getitem__(self, i: int) -> Any:  # type: ignore[override]
        k = int(np.searchsorted(self.ends, i, side="right"))
        return self.parts[k][i - (int(self.ends[k - 1]) if k else 0)]


# ---------------------------------------------------------------------------------------------------------
# pyskl / mmaction2 pickles
# ---------------------------------------------------------------------------------------------------------
class _PysklItem:
    def __init__(self, annotations: list[dict], with_score: bool, min_score: float) -> None:
        self.annotations, self.with_score, self.min_score = annotations, with_score, min_score

    def __call__(self, i: int) -> np.ndarray:
        ann = self.annotations[i]
        kp = np.array(ann["keypoint"], dtype=np.float32)
        _mark_missing(kp)
        score = ann.get("keypoint_score")
        if score is not None:
            score = np.asarray(score, dtype=np.float32)
            kp[~(score > self.min_score)] = np.nan
            if self.with_score:
                kp = np.concatenate([kp, score[..., None]], axis=-1)
        return kp


@names_file("pyskl .pkl")
def read_pyskl(
    path: PathLike,
    layout: str | Layout | None = None,
    with_score: bool = False,
    min_score: float = 0.0,
    trust_pickle: bool = False,
) -> SkeletonDataset:
    """Read a pyskl / mmaction2 skeleton annotation pickle.

    The file holds ``dict(split={name: [frame_dir, ...]}, annotations=[...])`` (or just the list); each
    annotation has ``frame_dir``, ``label``, ``keypoint`` ``[M, T, V, C]`` and, for 2-D, ``keypoint_score``
    ``[M, T, V]``. float16 keypoints (the NTU 3-D pickles) become float32. A 2-D joint with score
    ``<= min_score`` and any all-zero joint is ``NaN``. Names are the ``frame_dir``; a split's names that
    are not among the annotations are left out of it. Compressed Kinetics-style entries (``raw_file``) are
    not supported. The layout is the file's ``layout`` entry (written by [`write_pyskl`][slimkit.data.write_pyskl]),
    else inferred
    from ``V`` and ``C``; mmaction2's NTU 2-D pickles have 17 joints: COCO-17, not NTU-25.

    Pickles can run code when loaded, so the file is read by a restricted unpickler that admits only builtin
    containers and scalars and numpy arrays, dtypes and scalars; a file that references anything else is
    refused with an error naming it, unless ``trust_pickle=True``.

    Args:
        path: The ``.pkl`` file.
        layout: Layout of the keypoints; overrides the file's and the inferred one.
        with_score: For 2-D files, append the score as a third channel: items ``(M, T, V, 3)``.
        min_score: Scores at or below it mark a 2-D joint missing.
        trust_pickle: Unpickle without restrictions (the file can then run any code): only for files you
            created or trust, e.g. annotations holding objects of your own classes.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset].
    """
    from ._safe_pickle import load_pickle

    p = _path(path)
    data = load_pickle(p, trust=bool(trust_pickle))
    if isinstance(data, list):
        data = {"annotations": data}
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise ValueError(
            f"{p}: expected a pyskl pickle dict(split=..., annotations=[...]), got {type(data).__name__}"
        )
    anns = data["annotations"]
    if not anns:
        raise ValueError(f"{p}: the pickle holds no annotations")
    if not isinstance(anns[0], dict) or "keypoint" not in anns[0]:
        keys = sorted(map(str, anns[0])) if isinstance(anns[0], dict) else type(anns[0]).__name__
        raise ValueError(
            f"{p}: annotations have no 'keypoint' (got {keys}); compressed Kinetics-style "
            "pickles (raw_file, frame_inds) are not supported"
        )
    shapes = []
    for i, a in enumerate(anns):
        _check_pyskl_annotation(p, i, a)
        shapes.append(np.shape(a["keypoint"]))
    vc = {s[2:] for s in shapes}
    if len(vc) > 1:
        raise ValueError(f"{p}: annotations differ in (V, C): {sorted(vc)}")
    v, c = next(iter(vc))
    lay = _resolve_layout(layout if layout is not None else data.get("layout"), v, c, str(p))
    names = [str(a.get("frame_dir", i)) for i, a in enumerate(anns)]
    labels = [int(a["label"]) if a.get("label") is not None else -1 for a in anns]
    pos = {n: i for i, n in enumerate(names)}
    raw_split = data.get("split") or {}
    if not isinstance(raw_split, dict) or not all(
        isinstance(m, (list, tuple, np.ndarray)) for m in raw_split.values()
    ):
        raise ValueError(f"{p}: split: expected a dict of name -> list of frame_dir, got {type(raw_split).__name__}")
    split = {str(k): [pos[n] for n in members if n in pos] for k, members in raw_split.items()}
    return SkeletonDataset(
        _Lazy(len(anns), _PysklItem(anns, with_score, min_score)),
        labels,
        names,
        lay,
        split,
        classes=data.get("classes"),
    )


def _check_pyskl_annotation(p: Path, i: int, a: Any) -> None:
    """Refuse an annotation that is not a dict with a numeric ``keypoint`` ``[M, T, V, C]`` (and scores)."""
    where = f"{p}: annotations[{i}]"
    if not isinstance(a, dict):
        raise ValueError(f"{where}: expected a dict with 'keypoint', got {type(a).__name__}")
    kp = a.get("keypoint")
    if not isinstance(kp, np.ndarray) or not (
        np.issubdtype(kp.dtype, np.floating) or np.issubdtype(kp.dtype, np.integer)
    ):
        got = f"{kp.dtype} array" if isinstance(kp, np.ndarray) else type(kp).__name__
        raise ValueError(f"{where}['keypoint']: expected a numeric numpy array [M, T, V, C], got {got}")
    if kp.ndim != 4 or kp.shape[2] == 0 or kp.shape[3] == 0:
        raise ValueError(f"{where}['keypoint']: expected [M, T, V, C], got shape {kp.shape}")
    score = a.get("keypoint_score")
    if score is not None and np.shape(score) != kp.shape[:3]:
        raise ValueError(
            f"{where}['keypoint_score']: expected shape {kp.shape[:3]} (M, T, V), got {np.shape(score)}"
        )
    label = a.get("label")
    if label is not None and (
        isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)) or label < -1
    ):
        raise ValueError(f"{where}['label']: expected an int >= -1 or None, got {label!r}")


def write_pyskl(
    path: PathLike,
    sequences: Sequence[Any] | SkeletonDataset,
    labels: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    split: Mapping[str, Sequence[Any]] | None = None,
    layout: str | Layout | None = None,
    scores: Sequence[Any] | None = None,
    classes: Sequence[str] | None = None,
    image_size: tuple[int, int] | None = None,
) -> Path:
    """Write sequences as a pyskl / mmaction2 annotation pickle that [`load`][slimkit.data.load] reads back identically.

    ``C = 3`` writes a 3-D file; ``C = 2`` a 2-D file whose ``keypoint_score`` is ``scores`` or, by
    default, 1 for present joints and 0 for missing ones. Missing (``NaN``) joints are stored as 0, pyskl's
    convention, and read back as ``NaN``; an exactly all-zero joint therefore also reads back as ``NaN``.
    Keypoints are stored as float32. The file also carries ``layout`` (and ``classes``), which pyskl and
    mmaction2 ignore.

    Args:
        path: Output ``.pkl`` file (written atomically).
        sequences: Sequences ``(T, V, C)`` / ``(M, T, V, C)``, or a [`SkeletonDataset`][slimkit.data.SkeletonDataset]
            (its labels,
            names, split, layout and classes are the defaults).
        labels: One int per sequence (``-1`` = unknown).
        names: Unique names, stored as ``frame_dir``; default ``"000000"``...
        split: Split name -> indices or names of its sequences.
        layout: Layout name; default inferred from ``V`` and ``C``.
        scores: For 2-D sequences, one ``(M, T, V)`` / ``(T, V)`` score array per sequence.
        classes: Class names, stored for [`read_pyskl`][slimkit.data.read_pyskl].
        image_size: ``(height, width)`` stored as ``img_shape`` / ``original_shape`` of 2-D entries;
            default the extent of the coordinates (max + 1).

    Returns:
        The path written.
    """
    out = Path(path) if isinstance(path, (str, os.PathLike)) else None
    if out is None:
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    if isinstance(sequences, SkeletonDataset):
        ds = sequences
        labels = ds.labels if labels is None else labels
        names = ds.names if names is None else names
        split = ds.split if split is None else split
        layout = ds.layout if layout is None else layout
        classes = ds.classes if classes is None else classes
        seqs = [ds[i][0] for i in range(len(ds))]
    else:
        seqs = list(sequences)
    ds = SkeletonDataset(seqs, labels, names, layout, split, classes)  # validates everything
    if scores is not None and len(scores) != len(ds):
        raise ValueError(f"scores: expected {len(ds)} score arrays, got {len(scores)}")
    anns = []
    for i in range(len(ds)):
        kp, label = ds[i]
        c = kp.shape[-1]
        if c not in (2, 3):
            raise ValueError(f"sequences[{i}]: expected C = 2 (x, y) or 3 (x, y, z), got shape {kp.shape}")
        missing = ~np.isfinite(kp).all(-1)
        ann = {
            "frame_dir": ds.names[i],
            "label": label,
            "total_frames": int(kp.shape[1]),
            "keypoint": np.where(missing[..., None], 0.0, kp).astype(np.float32),
        }
        if c == 2:
            if scores is not None:
                sc = np.asarray(scores[i], dtype=np.float32)
                sc = sc[None] if sc.ndim == 2 else sc
                if sc.shape != kp.shape[:3]:
                    raise ValueError(f"scores[{i}]: expected shape {kp.shape[:3]}, got {sc.shape}")
                sc = np.where(missing, 0.0, sc).astype(np.float32)
            else:
                sc = (~missing).astype(np.float32)
            ann["keypoint_score"] = sc
            if image_size is None:
                top = np.nanmax(kp, axis=(0, 1, 2)) if (~missing).any() else np.zeros(2)
                hw = (int(np.ceil(top[1])) + 1, int(np.ceil(top[0])) + 1)
            else:
                hw = (int(image_size[0]), int(image_size[1]))
            ann["img_shape"] = ann["original_shape"] = hw
        anns.append(ann)
    data: dict[str, Any] = {
        "split": {k: [ds.names[j] for j in v] for k, v in ds.split.items()},
        "annotations": anns,
        "layout": ds.layout,
    }
    if ds.classes is not None:
        data["classes"] = list(ds.classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(data, fh, protocol=4)
        from ._integrity import apply_umask

        apply_umask(Path(tmp))  # mkstemp made it 0600: give it the mode open() would (the umask's)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out


# ---------------------------------------------------------------------------------------------------------
# NW-UCLA json
# ---------------------------------------------------------------------------------------------------------
_NWUCLA_NAME = re.compile(r"a(\d+)_s(\d+)_e(\d+)_v(\d+)")


@names_file("NW-UCLA .json")
def read_nwucla(path: PathLike, layout: str | Layout | None = None) -> SkeletonDataset:
    """Read NW-UCLA sequences: one ``.json`` file or a folder of them (``all_sqe/``, as in CTR-GCN).

    Each file holds ``file_name`` (``aAA_sSS_eEE_vVV``), a 1-based ``label`` and ``skeletons`` ``T x 20 x 3``
    (one person, Kinect v1, metres). Items are ``(1, T, 20, 3)`` (``T`` may be 1); labels are 0-based
    (``label - 1``); ``classes`` are [`NWUCLA_CLASSES`][slimkit.data.NWUCLA_CLASSES]. The split is the standard
    cross-view one:
    ``train`` = views 1 and 2, ``test`` = view 3. ``meta`` holds ``action``, ``subject``, ``repetition``
    and ``view`` parsed from the name.

    Args:
        path: A ``.json`` file or a folder of them.
        layout: Must be ``None`` or ``"kinect20"``.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset] in the ``kinect20`` layout.
    """
    p = _path(path)
    lay = _fixed_layout(layout, "kinect20", str(p))
    files = sorted(p.glob("*.json")) if p.is_dir() else [p]
    if not files:
        raise ValueError(f"path: no .json files in {p}")
    seqs, labels, names = [], [], []
    meta: dict[str, list[int]] = {"action": [], "subject": [], "repetition": [], "view": []}
    for f in files:
        try:
            d = json.loads(f.read_text())
            a = np.array(d["skeletons"], dtype=np.float32)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, RecursionError) as e:
            raise ValueError(
                f"{f}: not an NW-UCLA json (file_name, label, skeletons T x 20 x 3): {type(e).__name__}: {e}"
            ) from None
        if a.ndim != 3 or a.shape[1:] != (20, 3) or a.shape[0] == 0:
            raise ValueError(f"{f}: skeletons: expected shape (T, 20, 3) with T >= 1, got {a.shape}")
        name = str(d.get("file_name", f.stem))
        m = _NWUCLA_NAME.search(name)
        fields = tuple(map(int, m.groups())) if m else (-1, -1, -1, -1)
        if "label" in d:
            raw = d["label"]
            if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= len(NWUCLA_CLASSES):
                raise ValueError(
                    f"{f}: label: expected an int in 1..{len(NWUCLA_CLASSES)} (NW-UCLA's 1-based classes), "
                    f"got {raw!r}"
                )
            label = raw - 1
            if fields[0] in _NWUCLA_ACTION_IDS and _NWUCLA_ACTION_IDS.index(fields[0]) != label:
                raise ValueError(
                    f"{f}: label {raw} contradicts file_name {name!r}: action a{fields[0]:02d} is label "
                    f"{_NWUCLA_ACTION_IDS.index(fields[0]) + 1}"
                )
        else:
            label = _NWUCLA_ACTION_IDS.index(fields[0]) if fields[0] in _NWUCLA_ACTION_IDS else -1
        seqs.append(_mark_missing(a)[None])
        labels.append(label)
        names.append(name)
        for k, val in zip(meta, fields, strict=True):
            meta[k].append(val)
    view = np.array(meta["view"])
    split = {"train": np.flatnonzero((view == 1) | (view == 2)), "test": np.flatnonzero(view == 3)}
    return SkeletonDataset(
        seqs, labels, names, lay, split, NWUCLA_CLASSES, {k: np.array(v) for k, v in meta.items()}
    )


# ---------------------------------------------------------------------------------------------------------
# Penn Action .mat
# ---------------------------------------------------------------------------------------------------------
@names_file("Penn Action .mat")
def read_penn_action(path: PathLike, layout: str | Layout | None = None) -> SkeletonDataset:
    """Read Penn Action annotations: one ``labels/NNNN.mat`` file or the ``labels`` folder.

    ``x``, ``y`` and ``visibility`` ``(T, 13)`` become items ``(1, T, 13, 2)`` in pixels (origin top-left,
    y down) with invisible joints ``NaN``. The layout is ``penn13``, which names joints by the person's own
    side (the dataset's "left" joints are the person's right). Labels index
    [`PENN_ACTION_CLASSES`][slimkit.data.PENN_ACTION_CLASSES]
    (the 15 action names, sorted); the split is the file's ``train`` flag (``train`` / ``test``).
    ``meta`` holds ``view`` (front, back, left, right), ``image_size`` ``(height, width)`` and ``bbox``.

    Args:
        path: A ``.mat`` file or a folder of them.
        layout: Must be ``None`` or ``"penn13"``; convert with ``dataset.to_layout("coco17")``.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset] in the ``penn13`` layout.
    """
    from scipy.io import loadmat

    from ._matcheck import check_mat5

    p = _path(path)
    lay = _fixed_layout(layout, "penn13", str(p))
    files = sorted(p.glob("*.mat")) if p.is_dir() else [p]
    if not files:
        raise ValueError(f"path: no .mat files in {p}")
    seqs, labels, train = [], [], []
    meta: dict[str, list[Any]] = {"view": [], "image_size": [], "bbox": []}
    for f in files:
        raw = f.read_bytes()
        try:
            check_mat5(raw)  # scipy's C reader can crash on a damaged file instead of raising
        except ValueError as e:
            raise ValueError(f"{f}: not a readable MATLAB file ({e})") from None
        try:
            d = loadmat(io.BytesIO(raw))
        except Exception as e:  # scipy raises several types for a non-MAT file
            raise ValueError(f"{f}: not a MATLAB file ({e})") from None
        missing = [k for k in ("x", "y", "visibility", "action") if k not in d]
        if missing:
            raise ValueError(f"{f}: not a Penn Action file: keys {missing} missing")
        x, y, vis = (np.asarray(d[k]) for k in ("x", "y", "visibility"))
        if x.ndim != 2 or x.shape[1] != 13 or y.shape != x.shape or vis.shape != x.shape:
            raise ValueError(
                f"{f}: x, y, visibility: expected (T, 13) each, got {x.shape}, {y.shape}, {vis.shape}"
            )
        try:
            a = np.stack([x, y], axis=-1).astype(np.float32)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{f}: x, y: expected numeric arrays ({e})") from None
        a[vis == 0] = np.nan
        _mark_missing(a)  # a joint marked visible at exactly (0, 0) is an unfilled annotation: missing
        try:
            action = str(np.ravel(d["action"])[0]).strip()
            dims = np.ravel(d.get("dimensions", [0, 0]))
            image_size = (int(dims[0]), int(dims[1]))
            flag = int(np.ravel(d["train"])[0]) if "train" in d else 0
            bbox = np.asarray(d.get("bbox", np.zeros((0, 4))), dtype=np.float32)
            nframes = int(np.ravel(d["nframes"])[0]) if "nframes" in d else x.shape[0]
            dframes = int(dims[2]) if dims.size > 2 else x.shape[0]
        except (IndexError, TypeError, ValueError, OverflowError) as e:
            raise ValueError(
                f"{f}: action, dimensions (height, width, frames), train, nframes or bbox malformed ({e})"
            ) from None
        if nframes != x.shape[0] or dframes != x.shape[0]:
            raise ValueError(
                f"{f}: nframes ({nframes}) and dimensions[2] ({dframes}) declare the frame count, but x, y and "
                f"visibility hold {x.shape[0]} frames"
            )
        if action not in PENN_ACTION_CLASSES:
            raise ValueError(f"{f}: action: expected one of {PENN_ACTION_CLASSES}, got {action!r}")
        seqs.append(a[None])
        labels.append(PENN_ACTION_CLASSES.index(action))
        train.append(flag)
        meta["view"].append(str(np.ravel(d["pose"])[0]).strip() if "pose" in d and np.size(d["pose"]) else "")
        meta["image_size"].append(image_size)
        meta["bbox"].append(bbox)
    tr = np.array(train)
    split = {"train": np.flatnonzero(tr == 1), "test": np.flatnonzero(tr == -1)}
    return SkeletonDataset(
        seqs,
        labels,
        [f.stem for f in files],
        lay,
        split,
        PENN_ACTION_CLASSES,
        {"view": np.array(meta["view"]), "image_size": meta["image_size"], "bbox": meta["bbox"]},
    )


# ---------------------------------------------------------------------------------------------------------
# plain .npy
# ---------------------------------------------------------------------------------------------------------
class _NpyRows:
    def __init__(self, path: Path, input_format: str) -> None:
        self.path, self.input_format = path, input_format
        self._source: Any = None

    @property
    def source(self) -> Any:
        if self._source is None:
            from .preprocessing import SequenceSource

            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
            self._source = SequenceSource(arr, self.input_format, name=str(self.path))
        return self._source

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_source": None}  # reopen the memory map instead of pickling its content

    def __call__(self, i: int) -> np.ndarray:
        a = np.array(self.source.batch(i, i + 1)[0], dtype=np.float32)
        return _trim_trailing(_mark_missing(a))


class _NpyFile:
    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def __call__(self, i: int) -> np.ndarray:
        return _read_npy_file(self.files[i])


@names_file(".npy")
def _read_npy_file(f: Path) -> np.ndarray:
    a = np.array(np.load(f, allow_pickle=False), dtype=np.float32)
    if a.ndim not in (3, 4):
        raise ValueError(f"{f}: expected one sequence (T, V, C) or (M, T, V, C), got shape {a.shape}")
    return _mark_missing(a[None] if a.ndim == 3 else a)


@names_file(".npy")
def read_npy(
    path: PathLike,
    layout: str | Layout | None = None,
    input_format: str = "auto",
    labels: Sequence[int] | np.ndarray | None = None,
) -> SkeletonDataset:
    """Read a plain ``.npy`` array, or a folder of ``.npy`` files holding one sequence each.

    An array ``(T, V, C)`` or ``(M, T, V, C)`` is one sequence, ``(N, M, T, V, C)`` a batch; name other axis
    orders with ``input_format`` (e.g. ``"NCTVM"`` for the 2s-AGCN / CTR-GCN ``*_data_joint.npy``, or
    ``"NTVC"`` for single-person batches). All-zero joints are ``NaN`` and trailing all-missing frames are
    cut off. The file is memory-mapped: sequences are read on access. In a folder, each file is one sequence
    named after the file, with label -1.

    Args:
        path: A ``.npy`` file or a folder of them.
        layout: Layout of the joints; required when ``V`` alone does not tell it (e.g. 17 joints in 3-D).
        input_format: ``"auto"`` or an axis order over ``NMTVC`` (see
            [`slimkit.preprocessing.SequenceSource`][slimkit.preprocessing.SequenceSource]).
        labels: One label per sequence.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset].
    """
    from .preprocessing import SequenceSource

    p = _path(path)
    if p.is_dir():
        files = sorted(p.glob("*.npy"))
        if not files:
            raise ValueError(f"path: no .npy files in {p}")
        try:
            first = np.load(files[0], mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError, OverflowError, OSError) as e:
            raise ValueError(f"{files[0]}: not a plain numeric .npy ({e})") from None
        if first.ndim not in (3, 4):
            raise ValueError(
                f"{files[0]}: expected one sequence (T, V, C) or (M, T, V, C), got {first.shape}"
            )
        lay = _resolve_layout(layout, first.shape[-2], first.shape[-1], str(files[0]))
        return SkeletonDataset(_Lazy(len(files), _NpyFile(files)), labels, [f.stem for f in files], lay)
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{p}: not a plain numeric .npy ({e}); object arrays are refused") from None
    fmt = input_format.upper()
    if fmt == "AUTO":
        if arr.ndim not in (3, 4, 5):
            raise ValueError(
                f"{p}: expected (T, V, C), (M, T, V, C) or (N, M, T, V, C), got {arr.shape}; "
                "name the axes with input_format"
            )
        v, c = arr.shape[-2:]
    elif fmt == "NTF":
        raise ValueError(
            "input_format: 'NTF' rows are the CTR-GCN npz layout; use read_npz, or reshape first"
        )
    else:
        if len(fmt) != arr.ndim or "V" not in fmt or "C" not in fmt:
            raise ValueError(f"input_format: {input_format!r} does not fit an array of shape {arr.shape}")
        v, c = arr.shape[fmt.index("V")], arr.shape[fmt.index("C")]
    lay = _resolve_layout(layout, int(v), int(c), str(p))
    rows = _NpyRows(p, input_format)
    rows._source = SequenceSource(arr, input_format, name=str(p))
    return SkeletonDataset(_Lazy(len(rows.source), rows), labels, None, lay)


# ---------------------------------------------------------------------------------------------------------
# one entry point
# ---------------------------------------------------------------------------------------------------------
_READERS: dict[str, Callable[..., SkeletonDataset]] = {
    "ntu": read_ntu_skeleton,
    "npz": read_npz,
    "pyskl": read_pyskl,
    "nwucla": read_nwucla,
    "penn": read_penn_action,
    "npy": read_npy,
}


def load(
    path: PathLike, layout: str | Layout | None = None, trust_pickle: bool = False, **kw: Any
) -> SkeletonDataset:
    """Read a skeleton data set, recognising its format from the file or the files in the folder.

    ``.skeleton`` -> [`read_ntu_skeleton`][slimkit.data.read_ntu_skeleton], ``.npz`` ->
    [`read_npz`][slimkit.data.read_npz], ``.pkl`` / ``.pickle`` ->
    [`read_pyskl`][slimkit.data.read_pyskl], ``.json`` -> [`read_nwucla`][slimkit.data.read_nwucla], ``.mat`` ->
    [`read_penn_action`][slimkit.data.read_penn_action], ``.npy`` ->
    [`read_npy`][slimkit.data.read_npy]. A folder is read when all its recognised files have one of these suffixes
    (``.skeleton``, ``.json``, ``.mat``, ``.npy``). Motion capture and CSV files are recognised
    by [`detect_reader`][slimkit.mocap.detect_reader]: ``.bvh`` -> [`read_bvh`][slimkit.mocap.read_bvh],
    ``.amc`` / ``.asf`` -> [`read_amc`][slimkit.mocap.read_amc], Kinder-Gator ``.csv`` ->
    [`read_kinder_gator`][slimkit.kindergator.read_kinder_gator], also in folders that hold them in subfolders
    (HDM05's ``train/<class>/``, Kinder-Gator's ``Adults/``).

    Args:
        path: A file or a folder.
        layout: Layout of the data. For formats with a fixed layout (NTU, NW-UCLA, Penn Action) it must be
            that layout; elsewhere it overrides the inferred one.
        trust_pickle: For ``.pkl`` files, unpickle without restrictions (see [`read_pyskl`][slimkit.data.read_pyskl]);
            by default only builtin containers and numpy arrays are admitted. Ignored for other formats.
        **kw: Passed to the reader (e.g. ``max_bodies``, ``with_score``, ``input_format``, ``labels``).

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset].
    """
    p = _path(path)
    from .mocap import detect_reader  # BVH, ASF/AMC, Kinder-Gator CSV; imported here: it imports this module

    reader = detect_reader(p)
    if reader is not None:
        return reader(p, layout=layout, **kw)
    if p.is_dir():
        found = {
            _SUFFIXES[f.suffix.lower()] for f in p.iterdir() if f.is_file() and f.suffix.lower() in _SUFFIXES
        }
        kinds = found - {"npz", "pyskl"}  # single-file formats: a folder of them is ambiguous
        if len(kinds) != 1:
            inner = sorted(d.name for d in p.iterdir() if d.is_dir())
            raise ValueError(
                f"path: {p} should hold files of one kind (.skeleton, .json, .mat or .npy), found "
                f"{sorted(found) or 'none'}"
                + (f"; subfolders: {inner}" if inner else "")
                + ("; pass the .npz / .pkl file itself" if found & {"npz", "pyskl"} else "")
            )
        kind = kinds.pop()
    else:
        kind = _SUFFIXES.get(p.suffix.lower())
        if kind is None:
            raise ValueError(
                f"path: cannot tell the format of {p.name}: expected a suffix in {sorted(_SUFFIXES)} "
                f"or a folder of such files, got {p.suffix or 'no suffix'!r}"
            )
    if kind == "pyskl":
        kw["trust_pickle"] = trust_pickle
    return _READERS[kind](p, layout=layout, **kw)
