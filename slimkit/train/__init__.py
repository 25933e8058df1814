"""SLiM pretraining: the [`Trainer`][slimkit.train.Trainer], its
[`TrainingArguments`][slimkit.train.TrainingArguments] and the [`PretrainStep`][slimkit.train.PretrainStep] it runs
on every batch (``slimkit.trainer`` still imports, for one release).

| module | what is in it |
|---|---|
| ``slimkit.train.args`` | ``TrainingArguments``: the hyperparameters of a run |
| ``slimkit.train.corpus`` | what the loader reads: ``PretrainDataset``, ``pretrain_collate``, corpora, samplers |
| ``slimkit.train.step`` | ``PretrainStep``: views, masks, teacher, student, losses, EMA update of one batch |
| ``slimkit.train.checkpoint`` | atomic checkpoints: save, list, newest intact, load |
| ``slimkit.train.metrics`` | ``metrics.jsonl`` / TensorBoard records |
| ``slimkit.train.monitor`` | the kNN monitor (on [`knn_top1`][slimkit.eval.knn_top1]) |
| ``slimkit.train.trainer`` | ``Trainer``: the loop, resuming, distributed runs |

**Training arguments.** The ``Trainer``'s hyperparameters form one dataclass,
[`TrainingArguments`][slimkit.train.TrainingArguments] (sentence-transformers' convention). Pass it as ``args=``,
or pass its fields as keywords as before; the two calls below make the same run, and both forms at once are an
error.

```python
args = TrainingArguments("runs/x", epochs=10, batch_size=32, lr=1e-3)
Trainer(SLiMConfig.tiny(layout="ntu25"), sequences, args=args).fit()
Trainer(SLiMConfig.tiny(layout="ntu25"), sequences, "runs/x", epochs=10, batch_size=32, lr=1e-3).fit()
```

**The pretraining step.** [`PretrainStep`][slimkit.train.PretrainStep] is the step ``Trainer.fit`` runs on every
batch, usable on its own (the benchmarks time it): it makes the views and masks from a
[`PerSampleGenerator`][slimkit.transforms.PerSampleGenerator], runs the EMA teacher and the student, sums the
losses with [`SLiMLoss`][slimkit.losses.SLiMLoss] and, called with an optimizer, takes the optimizer step and
updates the teacher with [`ema_update`][slimkit.train.ema_update].

```python
model = SLiMPretrainModel(SLiMEncoder(config))
step = PretrainStep(model, augmentation=default_augmentation(config.layout))
opt = make_optimizer(model, lr=5e-4, weight_decay=0.05)
# x (N, M, T, V, C) cleaned and NaN-padded, lengths (N,), index (N,): a pretrain_collate batch
loss, parts = step(x, lengths, PerSampleGenerator(index, seed=0), opt, momentum=0.996, grad_clip=1.0)
```
"""

from __future__ import annotations

from .args import TrainingArguments
from .corpus import CorpusSource, PretrainDataset, pretrain_collate
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
]
