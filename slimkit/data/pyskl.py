"""pyskl / mmaction2 skeleton annotation pickles: [`read_pyskl`][slimkit.data.read_pyskl] through a restricted
unpickler, and [`write_pyskl`][slimkit.data.write_pyskl], which writes files that read back identically."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._arrays import mark_missing
from .._errors import names_file
from .._safe_pickle import load_pickle
from .._utils import atomic_path
from ..layouts import Layout
from ._common import PathLike, _Lazy, _path, _resolve_layout
from .dataset import SkeletonDataset

__all__ = ["read_pyskl", "write_pyskl"]


class _PysklItem:
    def __init__(self, annotations: list[dict], with_score: bool, min_score: float) -> None:
        self.annotations, self.with_score, self.min_score = annotations, with_score, min_score

    def __call__(self, i: int) -> np.ndarray:
        ann = self.annotations[i]
        kp = np.array(ann["keypoint"], dtype=np.float32)
        mark_missing(kp)
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
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        pickle.dump(data, fh, protocol=4)
    return out

