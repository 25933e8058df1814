"""Former home of the evaluation protocols, kept for one release; import from slimkit.eval.

Everything here is re-exported from [`slimkit.eval`][slimkit.eval] (``knn``, ``probe``, ``finetune``, ``semi``,
``result``, ``inputs``).
"""

from __future__ import annotations

import warnings

from . import eval as _eval
from .eval import *  # noqa: F403
from .eval.inputs import (
    CENTER_CROP,
    MIN_CROP_FRAMES,
    ROTATION,
    TRAIN_CROP,
    _Skeletons,  # noqa: F401  (imported by tests)
)

__all__ = [*_eval.__all__, "CENTER_CROP", "MIN_CROP_FRAMES", "ROTATION", "TRAIN_CROP"]

warnings.warn(
    "slimkit.evaluation is kept for one release; import from slimkit.eval instead",
    DeprecationWarning,
    stacklevel=2,
)
