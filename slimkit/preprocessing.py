"""Turn whatever skeleton input a user has into the tensor the encoder reads.

The pipeline for one sequence ``(M, T, V, C)``:

1. missing joints: a joint that is non-finite or exactly all-zero is *missing* and becomes ``NaN``;
   for 2-D models fed ``(x, y, score)``, a joint with ``score <= min_score`` is missing too;
2. frames with no valid joint (zero padding) are dropped; persons with no valid joint are dropped, and at
   most ``max_persons`` persons (the most visible ones) are kept;
3. optional centring, view alignment (3-D) and scale normalisation (see [`SLiMConfig`][slimkit.config.SLiMConfig]);
4. linear resampling of the valid frames to ``num_frames``;
5. absent persons are padded with ``NaN`` up to ``max_persons``.

Missing values stay ``NaN`` all the way to the encoder, which masks them: a missing joint is never a joint at
the origin, and zero padding in time or in persons does not change an embedding.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ._arrays import mark_missing, missing_joints, nan_lerp, pad_persons, pad_time
from .config import SLiMConfig
from .layouts import Layout, get_layout

__all__ = [
    "SequenceSource",
    "standardize",
    "resample",
    "prepare_sequence",
    "prepare_batch",
    "missing_joints",
    "mark_missing",
    "pad_persons",
    "pad_time",
    "nan_lerp",
    "LongSequenceWarning",
    "LONG_SEQUENCE_FACTOR",
]

LONG_SEQUENCE_FACTOR = 8  # more valid frames than this many times num_frames: warn and point to windows
_warned_long = False
MAX_ABS_COORD = 1e6  # coordinates beyond this (after centring) are refused: no unit we support gets there
_AXES = "NMTVC"


def _check_dtype(a: np.ndarray, name: str) -> None:
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name}: expected a real-valued numeric array (float or int), got dtype {a.dtype}")
    if a.dtype == np.bool_:
        raise TypeError(f"{name}: expected a real-valued numeric array, got dtype bool")


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name}: expected a real-valued tensor, got dtype {x.dtype}")
        x = x.detach().to("cpu")
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        return x.numpy()
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name}: expected an array of joints, got {type(x).__name__}")
    try:
        a = np.asarray(x)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{name}: could not be read as an array ({e})") from None
    _check_dtype(a, name)
    return a


class LongSequenceWarning(UserWarning):
    """A sequence is much longer than the model's view and gets squashed into ``num_frames`` frames.

    Emitted by [`prepare_sequence`][slimkit.preprocessing.prepare_sequence] (so by ``SLiMEncoder.embed``) when a
    sequence has more than `LONG_SEQUENCE_FACTOR` times ``num_frames`` valid frames. Silence it with
    ``warnings.filterwarnings("ignore", category=LongSequenceWarning)``.
    """


class SequenceSource:
    """Uniform, lazy access to a batch of sequences given in any supported form.

    Accepted inputs:

    * an array or tensor: ``(T, V, C)`` or ``(M, T, V, C)`` is one sequence, ``(N, M, T, V, C)`` a batch
      (``input_format="auto"``); any axis order by naming it, e.g. ``"NCTVM"`` (CTR-GCN) or ``"NTVC"`` (a batch
      of single-person sequences); ``"NTF"`` for rows ``(N, T, M*V*C)`` as in the CTR-GCN/MAMP npz files;
    * a list or tuple of sequences ``(T, V, C)`` / ``(M, T, V, C)`` of different lengths;
    * a dataset whose items are sequences or ``(sequence, label)`` tuples (e.g. ``SkeletonDataset``).

    Slicing an array (a ``np.memmap`` too) reads only the requested rows, so memory stays bounded.
    """

    def __init__(self, skeletons: Any, input_format: str = "auto", num_joints: int | None = None,
                 channels: int | None = None, name: str = "skeletons") -> None:
        self.name = name
        self._array: np.ndarray | torch.Tensor | None = None
        self._items: Any = None
        self._perm: list[int] | None = None
        fmt = input_format.upper() if isinstance(input_format, str) else input_format
        if isinstance(skeletons, (np.ndarray, torch.Tensor)):
            a = skeletons
            if isinstance(a, np.ndarray):
                _check_dtype(a, name)
            elif a.is_complex() or a.dtype == torch.bool:
                raise TypeError(f"{name}: expected a real-valued tensor, got dtype {a.dtype}")
            if fmt == "AUTO":
                if a.ndim == 3:
                    a, fmt = a[None, None], "NMTVC"
                elif a.ndim == 4:
                    a, fmt = a[None], "NMTVC"
                elif a.ndim == 5:
                    fmt = "NMTVC"
                else:
                    raise ValueError(
                        f"{name}: expected an array of shape (T, V, C), (M, T, V, C) or (N, M, T, V, C), "
                        f"got shape {tuple(a.shape)}; name other axis orders with input_format"
                    )
            if fmt == "NTF":
                if a.ndim != 3 or num_joints is None or channels is None:
                    raise ValueError(f"{name}: input_format='NTF' expects (N, T, M*V*C), got {tuple(a.shape)}")
                f = a.shape[2]
                if f % (num_joints * channels):
                    raise ValueError(
                        f"{name}: input_format='NTF' needs the last axis to be a multiple of V*C="
                        f"{num_joints}*{channels}, got {f}"
                    )
                a = a.reshape(a.shape[0], a.shape[1], f // (num_joints * channels), num_joints, channels)
                fmt = "NTMVC"
            if sorted(fmt) != sorted(set(fmt)) or not set("TVC") <= set(fmt) or not set(fmt) <= set(_AXES):
                raise ValueError(
                    f"input_format: expected 'auto', 'NTF' or a permutation of axes from 'NMTVC' that contains "
                    f"T, V and C, got {input_format!r}"
                )
            if a.ndim != len(fmt):
                raise ValueError(f"{name}: input_format={input_format!r} expects {len(fmt)} axes, got shape "
                                 f"{tuple(a.shape)}")
            if "N" not in fmt:
                a, fmt = a[None], "N" + fmt
            if "M" not in fmt:
                a, fmt = a[:, None] if fmt[0] == "N" else a[None], fmt[0] + "M" + fmt[1:]
            self._perm = [fmt.index(c) for c in _AXES]
            self._array = a
        elif isinstance(skeletons, (list, tuple)) or (
            hasattr(skeletons, "__getitem__") and hasattr(skeletons, "__len__")
        ):
            if fmt not in ("AUTO", "TVC", "MTVC"):
                raise ValueError(f"input_format: a list of sequences takes 'auto', got {input_format!r}")
            self._items = skeletons
        else:
            raise TypeError(
                f"{name}: expected an array, a tensor, a list of sequences or a dataset, got {type(skeletons).__name__}"
            )
        if len(self) == 0:
            raise ValueError(f"{name}: expected at least one sequence, got an empty input")

    def __len__(self) -> int:
        if self._array is not None:
            return int(self._array.shape[0])
        return len(self._items)

    def batch(self, start: int, stop: int) -> list[np.ndarray]:
        """Sequences ``start:stop`` as ``(M, T, V, C)`` numpy arrays."""
        if self._array is not None:
            chunk = _as_numpy(self._array[start:stop], self.name)
            chunk = np.transpose(chunk, self._perm)
            return [chunk[i] for i in range(chunk.shape[0])]
        out = []
        for i in range(start, stop):
            item = self._items[i]
            if isinstance(item, tuple) and len(item) == 2 and not isinstance(item[0], (int, float)):
                item = item[0]  # (sequence, label)
            a = _as_numpy(item, f"{self.name}[{i}]")
            if a.ndim == 3:
                a = a[None]
            elif a.ndim != 4:
                raise ValueError(
                    f"{self.name}[{i}]: expected a sequence of shape (T, V, C) or (M, T, V, C), got {tuple(a.shape)}"
                )
            out.append(a)
        return out


def standardize(seq: np.ndarray, config: SLiMConfig, layout: Layout | None = None,
                name: str = "skeletons") -> np.ndarray:
    """Steps 1-3 of the pipeline: ``(M, T, V, C_in)`` -> ``(M', T', V, C)`` float32, missing joints ``NaN``.

    ``T'`` counts only frames with at least one valid joint, ``M'`` only persons with one.
    """
    layout = get_layout(layout or config.layout)
    a = np.asarray(seq)
    _check_dtype(a, name)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"{name}: expected (T, V, C) or (M, T, V, C), got shape {tuple(a.shape)}")
    m, t, v, c = a.shape
    c_ok = (config.in_channels,) + ((3,) if config.in_channels == 2 else ())
    if v != layout.num_joints or c not in c_ok:
        want = " or ".join(f"(M, T, {layout.num_joints}, {k})" for k in c_ok)
        raise ValueError(
            f"{name}: expected {want} for layout {layout.name!r} with in_channels={config.in_channels}, "
            f"got shape {tuple(a.shape)}"
        )
    if t == 0 or m == 0:
        raise ValueError(f"{name}: expected at least one frame and one person, got shape {tuple(a.shape)}")
    a = a.astype(np.float64, copy=True)
    if c == 3 and config.in_channels == 2:  # (x, y, score)
        low = ~(a[..., 2] > config.min_score)
        a = a[..., :2]
        a[low] = np.nan
    miss = missing_joints(a)
    a[miss] = np.nan
    valid = ~miss
    frames = valid.any(axis=(0, 2))
    persons = valid.any(axis=(1, 2))
    if not frames.any():
        raise ValueError(f"{name}: no valid joint in any frame (every joint is NaN, inf or all-zero)")
    a, valid = a[persons][:, frames], valid[persons][:, frames]
    if a.shape[0] > config.max_persons:
        keep = np.sort(np.argsort(-valid.sum(axis=(1, 2)), kind="stable")[: config.max_persons])
        a, valid = a[keep], valid[keep]
        frames = valid.any(axis=(0, 2))
        a, valid = a[:, frames], valid[:, frames]
    if config.center:
        a -= _center(a[0], valid[0], layout)
    if config.view_align and config.in_channels == 3:
        a = _view_align(a, layout)
    if config.normalize_scale:
        ref = np.zeros(a.shape[-1]) if config.center else np.nanmean(a, axis=(0, 1, 2))
        r = np.sqrt(np.nanmean(np.sum((a - ref) ** 2, axis=-1)))
        if np.isfinite(r) and r > 1e-12:
            a = ref + (a - ref) / r
    big = np.nanmax(np.abs(a))
    if not np.isfinite(big) or big > MAX_ABS_COORD:
        raise ValueError(
            f"{name}: coordinates up to {big:.3g} after centring; expected |x| <= {MAX_ABS_COORD:g} "
            "(metres, pixels or normalised units)"
        )
    return a.astype(np.float32)


def _center(p: np.ndarray, valid: np.ndarray, layout: Layout) -> np.ndarray:
    """Centre of one person ``(T, V, C)``: the layout's centre joints in the first frame where all are valid."""
    cj = list(layout.center)
    ok = valid[:, cj].all(-1)
    if ok.any():
        return p[np.argmax(ok), cj].mean(0)
    first = np.argmax(valid.any(-1))
    return np.nanmean(p[first], axis=0)


def _view_align(a: np.ndarray, layout: Layout) -> np.ndarray:
    """Rotate ``(M, T, V, 3)`` so the first person's mean spine is +y and shoulders (left->right) lie along -x..+x.

    Uses the mean over all valid frames (not one frame), so a single noisy frame cannot tilt the sequence.
    """
    if layout.spine is None or layout.shoulders is None:
        return a
    p = a[0]
    with warnings.catch_warnings():  # frames where a spine joint is missing give NaN and are skipped
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = (np.nanmean(p[:, list(j)], axis=1) for j in layout.spine)
        up = np.nanmean(hi - lo, axis=0)
        across = np.nanmean(p[:, layout.shoulders[1]] - p[:, layout.shoulders[0]], axis=0)
    if not (np.isfinite(up).all() and np.isfinite(across).all()):
        return a
    y = up / (np.linalg.norm(up) + 1e-12)
    x = across - y * np.dot(across, y)
    if np.linalg.norm(x) < 1e-9:
        return a
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    rot = np.stack([x, y, z])  # rows: new axes in old coordinates
    return a @ rot.T


def resample(seq: np.ndarray, num_frames: int) -> np.ndarray:
    """Linearly resample ``(M, T, V, C)`` to ``(M, num_frames, V, C)`` over its whole length.

    A joint valid in both neighbouring frames is interpolated; valid in one, that one is used; in none, ``NaN``.
    """
    m, t, v, c = seq.shape
    pos = np.linspace(0.0, t - 1, num_frames) if t > 1 else np.zeros(num_frames)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo)[None, :, None, None]
    return nan_lerp(seq[:, lo], seq[:, hi], w).astype(seq.dtype, copy=False)


def prepare_sequence(seq: np.ndarray, config: SLiMConfig, layout: Layout | None = None,
                     name: str = "skeletons") -> np.ndarray:
    """The whole pipeline: ``(M, T, V, C_in)`` -> ``(max_persons, num_frames, V, C)`` float32, ``NaN`` = missing.

    A sequence of more than ``LONG_SEQUENCE_FACTOR * num_frames`` valid frames raises a
    [`LongSequenceWarning`][slimkit.preprocessing.LongSequenceWarning] (once per process): resampling it to
    ``num_frames`` frames blurs a long recording into one vector; embed it in windows instead.
    """
    global _warned_long
    a = standardize(seq, config, layout, name)
    # once per process, by hand: the warnings registry is reset by every catch_warnings() (view alignment uses
    # one per sequence), so Python's own once-per-location filter would repeat it for every long sequence
    if a.shape[1] > LONG_SEQUENCE_FACTOR * config.num_frames and not _warned_long:
        _warned_long = True
        warnings.warn(
            f"a sequence has more than {LONG_SEQUENCE_FACTOR * config.num_frames} valid frames "
            f"({LONG_SEQUENCE_FACTOR}x the model's {config.num_frames}-frame view) and is squashed into "
            f"{config.num_frames} frames, which blurs a long recording into one vector; embed it in windows: "
            "encoder.embed_windows(x, window=W, stride=S) or `slimkit embed --window W --stride S`",
            LongSequenceWarning,
            stacklevel=2,
        )
    return pad_persons(resample(a, config.num_frames), config.max_persons)


def prepare_batch(seqs: Sequence[np.ndarray], config: SLiMConfig, layout: Layout | None = None,
                  name: str = "skeletons", offset: int = 0) -> torch.Tensor:
    """Prepare a list of sequences into one ``(N, max_persons, num_frames, V, C)`` float32 tensor."""
    layout = get_layout(layout or config.layout)
    out = [prepare_sequence(s, config, layout, f"{name}[{offset + i}]") for i, s in enumerate(seqs)]
    return torch.from_numpy(np.stack(out))
