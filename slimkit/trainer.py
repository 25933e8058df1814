"""Kept for one release; import from slimkit.train.

The pretraining code lives in the [`slimkit.train`][slimkit.train] package now; this module re-exports its
names under their old paths (and the private names older code imported).
"""

from __future__ import annotations

import warnings

from .eval.knn import knn_top1
from .train import CorpusSource, PretrainDataset, SLiMPretrainModel, Trainer, TrainingArguments

# private names that tests and benchmarks imported from here
from .train.corpus import ResumableSampler as _ResumableSampler  # noqa: F401
from .train.corpus import WeightedResumableSampler as _WeightedResumableSampler  # noqa: F401
from .train.corpus import is_corpus as _is_corpus  # noqa: F401
from .train.corpus import pretrain_collate as _collate  # noqa: F401
from .train.step import EMATeacher as _Teacher  # noqa: F401

__all__ = ["Trainer", "TrainingArguments", "PretrainDataset", "CorpusSource", "SLiMPretrainModel", "knn_top1"]

warnings.warn(
    "slimkit.trainer is kept for one release; import from slimkit.train instead",
    DeprecationWarning,
    stacklevel=2,
)
