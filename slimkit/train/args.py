"""[`TrainingArguments`][slimkit.train.TrainingArguments]: the hyperparameters of a pretraining run, in one
dataclass (the convention of sentence-transformers' ``SentenceTransformerTrainingArguments``).

```python
from slimkit.train import Trainer, TrainingArguments
args = TrainingArguments("runs/x", epochs=10, batch_size=32, lr=1e-3)
Trainer(config, sequences, args=args).fit()
Trainer(config, sequences, "runs/x", epochs=10, batch_size=32, lr=1e-3).fit()   # the same run
```
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from .._utils import check_number, check_positive_int

__all__ = ["TrainingArguments"]

_PRECISIONS = ("auto", "bf16", "fp32")


@dataclasses.dataclass
class TrainingArguments:
    """Hyperparameters of [`Trainer`][slimkit.train.Trainer]: schedule, optimizer, devices, checkpoints, logging.

    Every field is checked when the object is made (``ValueError`` naming the field). The data (``train_data``,
    ``eval_data``, ``dataset_weights``...) and the augmentation are arguments of the ``Trainer`` itself.

    Args:
        output_dir: Folder for checkpoints and metrics; ``fit()`` resumes from the newest checkpoint in it.
        epochs: Passes over the data. With ``batch_size`` this fixes the schedule horizon
            (``epochs * steps_per_epoch`` steps).
        batch_size: *Global* batch size (split evenly over processes; must be a multiple of the world size).
        lr: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay (not applied to norms, biases and position/mask embeddings).
        warmup_steps: Linear warmup steps; ``None`` = 5 % of the horizon (at most 1000).
        min_lr_ratio: Final lr of the cosine schedule as a fraction of ``lr``.
        grad_clip: Max gradient norm (``None`` or 0 disables clipping).
        device: ``"cuda"``, ``"cpu"``...; default CUDA when available (``cuda:LOCAL_RANK`` under torchrun).
        precision: ``"auto"`` (bf16 autocast on CUDA with bf16 support, else fp32), ``"bf16"`` or ``"fp32"``.
        max_steps: Stop after this many optimizer steps in total. Unlike Hugging Face's Trainer it does *not*
            rescale the schedule, so ``fit()`` with ``max_steps=k`` then ``fit()`` again equals one run.
        seed: Seed of the initial weights, the data order, the views and the masks.
        num_workers: DataLoader workers (cleaning runs there); ``None`` = 0 on CPU, ``min(8, cpus / world)``
            on CUDA.
        save_every: Checkpoint every this many steps (also at each epoch end and at the end of ``fit``).
        save_total_limit: Checkpoints kept (the newest); ``None`` keeps all.
        log_every: Steps per metrics record (``metrics.jsonl``, progress bar, TensorBoard).
        eval_every: Epochs between kNN evaluations of ``eval_data``.
        compile: ``torch.compile`` the student and teacher (first steps are slow; off by default).
        show_progress_bar: tqdm bar on rank 0; ``None`` = only on a terminal.
        tensorboard: Also log to ``output_dir/tensorboard``; ``None`` = when TensorBoard is installed.
    """

    output_dir: str | os.PathLike
    epochs: int = 100
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_steps: int | None = None
    min_lr_ratio: float = 0.01
    grad_clip: float | None = 1.0
    device: Any = None
    precision: str = "auto"
    max_steps: int | None = None
    seed: int = 0
    num_workers: int | None = None
    save_every: int = 500
    save_total_limit: int | None = 2
    log_every: int = 10
    eval_every: int = 1
    compile: bool = False
    show_progress_bar: bool | None = None
    tensorboard: bool | None = None

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        for name in ("epochs", "batch_size", "save_every", "log_every", "eval_every"):
            setattr(self, name, check_positive_int(getattr(self, name), name))
        for name in ("max_steps", "save_total_limit"):
            if getattr(self, name) is not None:
                setattr(self, name, check_positive_int(getattr(self, name), name))
        for name in ("warmup_steps", "num_workers"):
            if getattr(self, name) is not None:
                setattr(self, name, check_positive_int(getattr(self, name), name, minimum=0))
        self.seed = check_positive_int(self.seed, "seed", minimum=0)
        self.lr = check_number(self.lr, "lr", lo=0.0)
        if self.lr == 0:
            raise ValueError(f"lr: expected a positive float, got {self.lr!r}")
        self.weight_decay = check_number(self.weight_decay, "weight_decay", lo=0.0)
        self.min_lr_ratio = check_number(self.min_lr_ratio, "min_lr_ratio", 0.0, 1.0)
        if self.grad_clip is not None:
            self.grad_clip = check_number(self.grad_clip, "grad_clip", lo=0.0)
        if self.precision not in _PRECISIONS:
            raise ValueError(f"precision: expected 'auto', 'bf16' or 'fp32', got {self.precision!r}")
        self.compile = bool(self.compile)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of the fields, in order (the keywords ``Trainer`` accepts in place of ``args=``)."""
        return tuple(f.name for f in dataclasses.fields(cls))


def resolve_training_arguments(output_dir: Any, args: TrainingArguments | None,
                               kwargs: dict[str, Any]) -> TrainingArguments:
    """The arguments of a ``Trainer(..., output_dir, args=..., **kwargs)`` call: ``args``, or the dataclass built
    from ``output_dir`` and the keywords (never both; unknown keywords are a TypeError)."""
    unknown = sorted(set(kwargs) - set(TrainingArguments.field_names()))
    if unknown:
        raise TypeError(f"Trainer: unexpected keyword arguments {unknown}; see TrainingArguments for the fields")
    if args is None:
        if output_dir is None and "output_dir" not in kwargs:
            raise TypeError("output_dir: expected a folder, or args=TrainingArguments(output_dir, ...)")
        return TrainingArguments(**({"output_dir": output_dir} if output_dir is not None else {}), **kwargs)
    if not isinstance(args, TrainingArguments):
        raise TypeError(f"args: expected a TrainingArguments, got {type(args).__name__}")
    given = (["output_dir"] if output_dir is not None else []) + sorted(kwargs)
    if given:
        raise TypeError(
            f"args: pass the training arguments either as args=TrainingArguments(...) or as keywords, not both; "
            f"also got {', '.join(given)}"
        )
    return args
