"""What every protocol reads: label and embedding checks, and the evaluation's views of raw skeletons.

The views are MAMP's (``feeder_ntu.py`` / ``tools.py``): a train view is a random crop ``p ~ U[0.5, 1]`` of the
valid frames (at least 64), resampled to ``num_frames``, then a random rotation ``U[-0.3, 0.3]`` rad per axis;
the test view is the centre crop ``p = 0.95``. STARS' kNN uses the same centre view. Skeletons go through the
package's one input pipeline ([`slimkit.preprocessing`][slimkit.preprocessing]: ``standardize``, ``resample``,
person and time padding) before the crop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .._arrays import pad_persons, pad_time
from .._utils import default_device
from ..preprocessing import SequenceSource, resample, standardize
from ..transforms import RandomRotation, TemporalCrop

if TYPE_CHECKING:  # pragma: no cover
    from ..model import SLiMEncoder

__all__ = ["center_view_embeddings", "TRAIN_CROP", "MIN_CROP_FRAMES", "ROTATION", "CENTER_CROP"]

TRAIN_CROP = (0.5, 1.0)
MIN_CROP_FRAMES = 64
ROTATION = 0.3
CENTER_CROP = 0.95


# ---- labels and embeddings ---------------------------------------------------------------------------------
def _labels(labels: Any, data: Any, name: str, n: int) -> np.ndarray:
    if labels is None:
        labels = getattr(data, "labels", None)
        if labels is None:
            raise ValueError(f"{name}: labels are required (the data carries no .labels)")
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    a = np.asarray(labels)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name}: expected {n} labels (one per sample), got shape {a.shape}")
    if a.dtype == object or a.dtype.kind not in "iuU":
        raise TypeError(f"{name}: expected int or str labels, got dtype {a.dtype}")
    return a


def _embeddings(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    a = np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "fiu":
        raise TypeError(
            f"{name}: expected a numeric (N, D) array of embeddings, got dtype {a.dtype}; to "
            "evaluate raw skeletons, pass encoder="
        )
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(
            f"{name}: expected embeddings of shape (N, D) with N >= 1, got {a.shape}; to evaluate "
            "raw skeletons, pass encoder="
        )
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return a


def _embedding_pair(train: Any, test: Any) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(N, D)`` train and ``(Q, D)`` test embeddings of the same width."""
    x_train, x_test = _embeddings(train, "train_emb"), _embeddings(test, "test_emb")
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"test_emb: expected width {x_train.shape[1]} like train_emb, got {x_test.shape[1]}")
    return x_train, x_test


def _classes(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted class set of ``train``; ``train``/``test`` as indices into it (``-1``: unseen in train)."""
    classes = np.unique(train)
    y_train = np.searchsorted(classes, train)
    pos = np.clip(np.searchsorted(classes, test), 0, len(classes) - 1)
    y_test = np.where(classes[pos] == test, pos, -1)
    return classes, y_train.astype(np.int64), y_test.astype(np.int64)


def _label_indices(train_labels: Any, train: Any, n_train: int, test_labels: Any, test: Any,
                   n_test: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_classes`` of the checked train and test labels (``None`` reads ``data.labels``)."""
    return _classes(_labels(train_labels, train, "train_labels", n_train),
                    _labels(test_labels, test, "test_labels", n_test))


# ---- views of raw skeletons --------------------------------------------------------------------------------
class _Skeletons:
    """Raw skeletons standardised once (valid frames, centring...); makes train and test views on demand."""

    def __init__(self, data: Any, encoder: SLiMEncoder, input_format: str, name: str) -> None:
        cfg = encoder.config
        src = SequenceSource(data, input_format, encoder.layout.num_joints, cfg.in_channels, name=name)
        self.seqs: list[np.ndarray] = []
        for s in range(0, len(src), 256):
            for i, seq in enumerate(src.batch(s, min(s + 256, len(src)))):
                self.seqs.append(standardize(seq, cfg, encoder.layout, f"{name}[{s + i}]"))
        self.config = cfg
        self.data = data

    def __len__(self) -> int:
        return len(self.seqs)

    def center_views(self, idx: np.ndarray) -> torch.Tensor:
        """Centre crop ``p = 0.95`` of the valid frames, resampled: ``(B, max_persons, num_frames, V, C)``."""
        cfg = self.config
        out = []
        for i in idx:
            seq = self.seqs[i]
            t = seq.shape[1]
            bias = int((1 - CENTER_CROP) * t / 2)
            out.append(pad_persons(resample(seq[:, bias : t - bias], cfg.num_frames), cfg.max_persons))
        return torch.from_numpy(np.stack(out))

    def train_views(self, idx: np.ndarray, generator: torch.Generator, augment: bool) -> torch.Tensor:
        """MAMP's train view: random crop ``p ~ U[0.5, 1]`` (>= 64 frames) resampled, random rotation."""
        if not augment:
            return self.center_views(idx)
        cfg = self.config
        batch, lengths = pad_time([pad_persons(self.seqs[i], cfg.max_persons) for i in idx])
        crop = TemporalCrop(cfg.num_frames, *TRAIN_CROP, min_frames=MIN_CROP_FRAMES)
        x = crop(torch.from_numpy(batch), lengths=lengths.tolist(), generator=generator)
        return RandomRotation(ROTATION)(x, generator=generator)


def _encode(encoder: nn.Module, x: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """Pooled features of prepared skeletons (bf16 autocast on CUDA), as float32."""
    x = x.to(dev, non_blocking=True)
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
        return encoder.encode(x).float()


@torch.no_grad()
def _center_features(encoder: SLiMEncoder, sk: _Skeletons, dev: torch.device, batch_size: int) -> torch.Tensor:
    was = encoder.training
    encoder.eval()
    try:
        feats = [
            _encode(encoder, sk.center_views(np.arange(s, min(s + batch_size, len(sk)))), dev).cpu()
            for s in range(0, len(sk), batch_size)
        ]
    finally:
        encoder.train(was)
    return torch.cat(feats)


def center_view_embeddings(
    data: Any,
    encoder: SLiMEncoder,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    input_format: str = "auto",
) -> np.ndarray:
    """The features [`knn_accuracy`][slimkit.eval.knn_accuracy] computes with ``encoder=``, once.

    Each sequence is encoded on the evaluation's centre view (crop ``p = 0.95`` of the valid frames,
    resampled to ``num_frames``); the pooled features are not normalised. Pass them to ``knn_accuracy`` with
    several ``k`` (or to ``linear_probe``) to embed a set once.

    Args:
        data: Skeletons in any form ``SLiMEncoder.embed`` accepts.
        encoder: The frozen encoder.
        batch_size: Sequences per forward pass.
        device: Torch device (default: CUDA when available).
        input_format: Axis order of array input.

    Returns:
        ``(N, D)`` float32 features.
    """
    dev = default_device(device)
    encoder.to(dev)
    return _center_features(encoder, _Skeletons(data, encoder, input_format, "data"), dev, batch_size).numpy()


def _skeleton_pair(train: Any, test: Any, encoder: SLiMEncoder, input_format: str) -> tuple[_Skeletons, _Skeletons]:
    """The train and test skeletons of a protocol, each standardised once."""
    return (_Skeletons(train, encoder, input_format, "train_emb"),
            _Skeletons(test, encoder, input_format, "test_emb"))
