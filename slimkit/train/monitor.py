"""The Trainer's kNN monitor: labels of the evaluation data and the leave-one-out cosine 1-NN top-1 of the
student's embeddings ([`knn_top1`][slimkit.eval.knn_top1])."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..eval.knn import knn_top1
from ..model import SLiMEncoder

__all__ = ["labels_of", "knn_monitor"]


def labels_of(data: Any, labels: Any, name: str) -> np.ndarray:
    """``labels`` when given, else ``data.labels``, else the second element of every item of ``data``."""
    if labels is not None:
        return np.asarray(labels)
    if hasattr(data, "labels"):
        return np.asarray(data.labels)
    try:
        out = [data[i][1] for i in range(len(data))]
    except Exception:  # noqa: BLE001 - any shape of item that is not (sequence, label)
        out = None
    if out is None or not all(isinstance(v, (int, np.integer)) for v in out):
        raise ValueError(
            f"{name}: could not find labels; pass eval_labels or a dataset of (sequence, label) items"
        )
    return np.asarray(out)


def knn_monitor(encoder: SLiMEncoder, data: Any, labels: np.ndarray, batch_size: int, input_format: str,
                device: str | torch.device) -> float:
    """Leave-one-out cosine 1-NN top-1 of ``encoder``'s embeddings of ``data`` (in ``[0, 1]``)."""
    z = encoder.embed(data, batch_size=max(1, batch_size), device=device, convert_to_numpy=False,
                      show_progress_bar=False, input_format=input_format)
    return knn_top1(z, labels)
