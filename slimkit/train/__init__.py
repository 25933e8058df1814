"""SLiM pretraining: the [`Trainer`][slimkit.train.Trainer], its
[`TrainingArguments`][slimkit.train.TrainingArguments] and the pretraining step it runs on every batch.

| module | what it holds |
|---|---|
| [`args`][slimkit.train.args] | `TrainingArguments`: the hyperparameters of a run |
| [`corpus`][slimkit.train.corpus] | `PretrainDataset`, collation, multi-set corpora, resumable samplers |
| [`step`][slimkit.train.step] | `PretrainStep` (views, masks, teacher, student, losses, EMA update) |
| [`checkpoint`][slimkit.train.checkpoint] | atomic checkpoints: save, list, newest intact, load |
| [`metrics`][slimkit.train.metrics] | `metrics.jsonl` / TensorBoard records |
| [`monitor`][slimkit.train.monitor] | the kNN monitor (`knn_top1`) |
| [`trainer`][slimkit.train.trainer] | `Trainer`: the loop, resuming, distributed runs |
"""

from __future__ import annotations

from .args import TrainingArguments
from .corpus import CorpusSource, PretrainDataset, pretrain_collate
from .monitor import knn_top1
from .step import EMATeacher, PretrainStep, PretrainViews, SLiMPretrainModel, ema_update, make_optimizer
from .trainer import Trainer

__all__ = [
    "Trainer",
    "TrainingArguments",
    "PretrainStep",
    "PretrainViews",
    "SLiMPretrainModel",
    "EMATeacher",
    "ema_update",
    "make_optimizer",
    "PretrainDataset",
    "CorpusSource",
    "pretrain_collate",
    "knn_top1",
]
