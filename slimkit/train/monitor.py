"""The Trainer's kNN monitor: labels of the evaluation data and leave-one-out cosine 1-NN accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["knn_top1", "labels_of"]


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


def knn_top1(embeddings: torch.Tensor, labels: np.ndarray | torch.Tensor, chunk: int = 1024) -> float:
    """Leave-one-out cosine 1-NN accuracy of L2-normalised ``embeddings (N, D)`` with ``labels (N,)``.

    Args:
        embeddings: ``(N, D)`` embeddings (normalised inside).
        labels: ``(N,)`` integer labels.
        chunk: Rows per similarity block (bounds memory).

    Returns:
        Top-1 accuracy in ``[0, 1]``.
    """
    z = torch.nn.functional.normalize(embeddings.float(), dim=-1)
    y = torch.as_tensor(np.asarray(labels), device=z.device)
    if z.shape[0] < 2 or y.shape[0] != z.shape[0]:
        raise ValueError(f"labels: expected {z.shape[0]} labels for at least 2 embeddings, got {y.shape[0]}")
    hits = 0
    for s in range(0, z.shape[0], chunk):
        sim = z[s : s + chunk] @ z.T
        rows = torch.arange(sim.shape[0], device=z.device)
        sim[rows, rows + s] = -float("inf")
        hits += int((y[sim.argmax(1)] == y[s : s + chunk]).sum())
    return hits / z.shape[0]
