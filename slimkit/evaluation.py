"""Former home of the evaluation protocols, kept for one release; import from slimkit.eval.

Everything here is re-exported from [`slimkit.eval`][slimkit.eval] (``knn``, ``probe``, ``finetune``, ``semi``,
``result``, ``inputs``).
"""

from __future__ import annotations

from .eval import (
    EvalResult,
    center_view_embeddings,
    finetune,
    knn_accuracy,
    knn_top1,
    linear_probe,
    semi_supervised,
    stratified_subset,
)
from .eval.inputs import (
    CENTER_CROP,
    MIN_CROP_FRAMES,
    ROTATION,
    TRAIN_CROP,
    _Skeletons,  # noqa: F401  (imported by tests)
)

__all__ = [
    "EvalResult",
    "knn_accuracy",
    "knn_top1",
    "linear_probe",
    "finetune",
    "semi_supervised",
    "stratified_subset",
    "center_view_embeddings",
    "CENTER_CROP",
    "MIN_CROP_FRAMES",
    "ROTATION",
    "TRAIN_CROP",
]
