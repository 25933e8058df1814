"""Classification report of an evaluation: top-1, top-5, mean per-class accuracy and the confusion matrix.

What pyskl and mmaction2 print after a test run, computed from an
[`EvalResult`][slimkit.eval.EvalResult] of [`knn_accuracy`][slimkit.eval.knn_accuracy] or
[`linear_probe`][slimkit.eval.linear_probe]. Test items whose class the train set lacks (target
``-1``) count as errors in top-1 and top-5 and are left out of the per-class figures and the matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["top_k_accuracy", "mean_class_accuracy", "confusion_matrix", "classification_report"]


def top_k_accuracy(targets: Any, scores: Any, k: int = 5) -> float:
    """Fraction of items whose true class is among the ``k`` best-scored classes.

    Args:
        targets: ``(Q,)`` int class indices (``-1``: never correct).
        scores: ``(Q, C)`` class scores, higher is better.
        k: How many classes count; capped at ``C``.

    Returns:
        A fraction in ``[0, 1]``.
    """
    y = np.asarray(targets, dtype=np.int64)
    s = np.asarray(scores)
    if s.ndim != 2 or s.shape[0] != len(y):
        raise ValueError(f"scores: expected shape ({len(y)}, C), got {s.shape}")
    k = max(1, min(int(k), s.shape[1]))
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float((top == y[:, None]).any(1).mean()) if len(y) else 0.0


def confusion_matrix(targets: Any, predictions: Any, num_classes: int) -> np.ndarray:
    """``(C, C)`` int64 counts: row = true class, column = predicted class.

    Args:
        targets: ``(Q,)`` int class indices; items with ``-1`` are left out.
        predictions: ``(Q,)`` int class indices.
        num_classes: ``C``.

    Returns:
        The matrix.
    """
    y = np.asarray(targets, dtype=np.int64)
    p = np.asarray(predictions, dtype=np.int64)
    keep = (y >= 0) & (y < num_classes) & (p >= 0) & (p < num_classes)
    return np.bincount(y[keep] * num_classes + p[keep], minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def mean_class_accuracy(targets: Any, predictions: Any, num_classes: int) -> float:
    """Mean over the classes present in ``targets`` of each class's top-1 accuracy (recall).

    Args:
        targets: ``(Q,)`` int class indices (``-1`` left out).
        predictions: ``(Q,)`` int class indices.
        num_classes: ``C``.

    Returns:
        A fraction in ``[0, 1]``; 0 when no item has a known class.
    """
    cm = confusion_matrix(targets, predictions, num_classes)
    support = cm.sum(1)
    present = support > 0
    if not present.any():
        return 0.0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def classification_report(result: Any, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """A JSON-friendly report of one evaluation.

    Args:
        result: An [`EvalResult`][slimkit.eval.EvalResult] with ``predictions``, ``targets`` and
            ``scores`` (kNN and linear probe results have them).
        class_names: Names of the dataset's labels (``class_names[label]``), e.g. ``dataset.classes``;
            default: the labels themselves.

    Returns:
        ``top1``, ``top5``, ``mean_class_accuracy``, ``per_class`` (name -> accuracy and support),
        ``labels`` (the class names in matrix order), ``confusion_matrix`` (nested lists, row = true class)
        and ``protocol``.
    """
    if result.predictions is None or result.targets is None or result.classes is None:
        raise ValueError("result: this evaluation recorded no predictions (use knn_accuracy or linear_probe)")
    classes = list(result.classes.tolist())
    c = len(classes)

    def name(label: Any) -> str:
        if class_names is not None and isinstance(label, int) and 0 <= label < len(class_names):
            return str(class_names[label])
        return str(label)

    labels = [name(v) for v in classes]
    cm = confusion_matrix(result.targets, result.predictions, c)
    support = cm.sum(1)
    per_class = {
        labels[i]: {"accuracy": float(cm[i, i] / support[i]) if support[i] else None, "support": int(support[i])}
        for i in range(c)
    }
    y = np.asarray(result.targets)
    top1 = float(np.mean(np.asarray(result.predictions) == y)) if len(y) else 0.0
    return {
        "top1": top1,
        "top5": top_k_accuracy(y, result.scores, 5) if result.scores is not None else None,
        "mean_class_accuracy": mean_class_accuracy(y, result.predictions, c),
        "num_test": int(len(y)),
        "per_class": per_class,
        "labels": labels,
        "confusion_matrix": cm.tolist(),
        "protocol": result.protocol,
    }
