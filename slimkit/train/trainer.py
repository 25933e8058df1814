"""[`Trainer`][slimkit.train.Trainer]: decoder-free SLiM pretraining on CPU, one GPU or many (``torchrun``),
resumable.

```python
from slimkit import SLiMConfig, Trainer
trainer = Trainer(SLiMConfig.tiny(layout="ntu25"), sequences, output_dir="runs/x", epochs=10)
trainer.fit()                       # resumes from runs/x if a checkpoint is there
trainer.encoder.save_pretrained("my-slim")
```

One optimizer step on a batch of ``N`` sequences:

1. the loader yields each sequence cleaned by
   [`slimkit.preprocessing.standardize`][slimkit.preprocessing.standardize] (missing joints
   ``NaN``, empty frames dropped, persons padded to ``max_persons``) and padded in time to the batch's
   longest, with its valid length and its dataset index ([`slimkit.train.corpus`][slimkit.train.corpus]);
2. [`PretrainStep`][slimkit.train.PretrainStep] makes the views and masks on the training device, runs the EMA
   teacher and the student and sums the losses; all random draws come from a
   [`PerSampleGenerator`][slimkit.transforms.PerSampleGenerator] keyed by (seed, epoch, dataset index), so a
   sequence gets the same views in any process, batch or resumed run;
3. AdamW step (no weight decay on norms, biases and embeddings), cosine lr with linear warmup, gradient
   clipping, then the EMA update with a cosine momentum schedule ``ema_momentum -> ema_momentum_end``.

Checkpoints ([`slimkit.train.checkpoint`][slimkit.train.checkpoint]) are written every ``save_every`` steps, at
the end of each epoch and at the end of ``fit()``; the newest ``save_total_limit`` are kept. Metrics go to
``output_dir/metrics.jsonl`` (and TensorBoard when installed).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .._utils import default_device, is_distributed, rank, warmup_cosine, world_size
from ..config import SLiMConfig
from ..model import SLiMEncoder
from ..preprocessing import SequenceSource
from ..transforms import PerSampleGenerator, default_augmentation
from . import checkpoint as ckpt
from .args import TrainingArguments, resolve_training_arguments
from .corpus import (
    PretrainDataset,
    ResumableSampler,
    WeightedResumableSampler,
    corpus_source,
    is_corpus,
    pretrain_collate,
)
from .metrics import MetricsLog
from .monitor import knn_monitor, labels_of
from .step import EMATeacher, PretrainStep, SLiMPretrainModel, make_optimizer

__all__ = ["Trainer"]

logger = logging.getLogger("slimkit")


def _step_seed(seed: int, step: int, rank: int) -> int:
    """Seed of torch's global generator at one step (drop-path): a pure function, so resuming needs no
    generator state."""
    return (seed * 1_000_003 + step * 7919 + rank * 104_729) % (2**63 - 1)


@dataclasses.dataclass
class _Run:
    """What one ``fit()`` call works with: sizes of the schedule and the objects of the loop."""

    device: torch.device
    rank: int
    world: int
    local_batch: int
    steps_per_epoch: int
    horizon: int  # steps of the whole schedule (epochs * steps_per_epoch)
    stop: int  # step this call stops at (max_steps or the horizon)
    model: SLiMPretrainModel
    teacher: EMATeacher
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    step: PretrainStep | None = None
    sampler: ResumableSampler | None = None
    loader: DataLoader | None = None
    log: MetricsLog | None = None
    bar: Any = None
    record: dict[str, Any] = dataclasses.field(default_factory=dict)  # last training metrics record
    last_saved: int = 0


class Trainer:
    """Pretrain a SLiM encoder (masked feature modeling + global-local contrastive, EMA teacher).

    The hyperparameters are a [`TrainingArguments`][slimkit.train.TrainingArguments], given as ``args=`` or, as
    before, as keywords (``output_dir`` may be the third positional argument): ``Trainer(cfg, data,
    "runs/x", epochs=10)`` equals ``Trainer(cfg, data, args=TrainingArguments("runs/x", epochs=10))``. Each
    field is also readable and settable as an attribute of the trainer (``trainer.max_steps = 5``).

    Args:
        config_or_encoder: A [`SLiMConfig`][slimkit.config.SLiMConfig] (a new encoder is initialised from
            ``seed``), a dict of config fields, an existing [`SLiMEncoder`][slimkit.model.SLiMEncoder] (trained
            in place), or a pretrained name / folder to continue from.
        train_data: Sequences in any form [`SequenceSource`][slimkit.preprocessing.SequenceSource] accepts: an
            array ``(N, M, T, V, C)``, a list of ``(T, V, C)`` / ``(M, T, V, C)`` sequences of any lengths, or a
            dataset of ``(sequence, label)`` items (labels are ignored).
        output_dir: Folder for checkpoints and metrics (``TrainingArguments.output_dir``).
        args: The training arguments; not together with ``output_dir`` or argument keywords.
        augmentation: Callable ``aug(x, generator=...)`` applied to every view, ``"default"``
            ([`default_augmentation`][slimkit.transforms.default_augmentation]) or ``None`` (no augmentation).
        eval_data: Optional labelled sequences for a kNN monitor (leave-one-out cosine 1-NN of the student's
            embeddings), run at the end of every ``eval_every`` epochs and of ``fit``.
        eval_labels: Labels of ``eval_data`` when its items are not ``(sequence, label)``.
        input_format: Axis order of ``train_data`` / ``eval_data`` arrays (see ``SequenceSource``).
        data_description: Text for the model card's "training data" row (default: a count of sequences).
        dataset_weights: Pretrain on several data sets at once: ``train_data`` is then a list of data sets
            (``SkeletonDataset`` objects, paths that ``slimkit.data.load`` reads, or lists of sequences), each
            converted to the model's layout (joints a set lacks are missing), and each epoch draws
            ``len(corpus)`` items with replacement, set ``k`` with probability ``dataset_weights[k] /
            sum(dataset_weights)``. A list of ``SkeletonDataset`` objects or paths without weights is a corpus
            too, sampled in proportion to the sets' sizes (plain shuffling).
        **kwargs: Fields of [`TrainingArguments`][slimkit.train.TrainingArguments] (``epochs``, ``batch_size``,
            ``lr``...), when ``args`` is not given.

    Attributes:
        args: The [`TrainingArguments`][slimkit.train.TrainingArguments] of the run.
        encoder: The student [`SLiMEncoder`][slimkit.model.SLiMEncoder]; after ``fit()`` it holds the trained
            weights (in eval mode) and ``card_info`` for the model card.
        global_step: Optimizer steps done so far (restored on resume).
        history: Metrics records of this ``fit()`` call (as written to ``metrics.jsonl``).

    Example:
        ```python
        trainer = Trainer(SLiMConfig.tiny(layout="kinect20"), sequences, "runs/x", epochs=50, batch_size=32)
        trainer.fit()                      # run it again after a crash: it continues where it stopped
        trainer.encoder.save_pretrained("runs/x/encoder")
        ```
    """

    def __init__(
        self,
        config_or_encoder: SLiMConfig | SLiMEncoder | dict | str | os.PathLike,
        train_data: Any,
        output_dir: str | os.PathLike | None = None,
        *,
        args: TrainingArguments | None = None,
        augmentation: Callable[..., Any] | str | None = "default",
        eval_data: Any = None,
        eval_labels: Sequence[int] | np.ndarray | None = None,
        input_format: str = "auto",
        data_description: str | None = None,
        dataset_weights: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        self.args = resolve_training_arguments(output_dir, args, kwargs)
        if not (augmentation is None or augmentation == "default" or callable(augmentation)):
            raise ValueError(f"augmentation: expected 'default', None or a callable, got {augmentation!r}")
        self.encoder: SLiMEncoder = _encoder(config_or_encoder, self.args.seed)
        self.config: SLiMConfig = self.encoder.config
        num_joints, channels = self.encoder.layout.num_joints, self.config.in_channels
        self.item_weights: torch.Tensor | None = None
        if dataset_weights is not None or is_corpus(train_data):
            self.source, self.item_weights, self.corpus_names = corpus_source(
                train_data, dataset_weights, self.config, input_format)
        else:
            self.source = SequenceSource(train_data, input_format, num_joints, channels, name="train_data")
        self.dataset = PretrainDataset(self.source, self.config)
        self.dataset[0]  # fail fast on a shape or layout mismatch
        if self.args.batch_size > len(self.dataset):
            logger.warning("batch_size=%d is larger than the training set; using %d",
                           self.args.batch_size, len(self.dataset))
            self.args = dataclasses.replace(self.args, batch_size=len(self.dataset))
        self.augmentation = default_augmentation(self.config.layout) if augmentation == "default" else augmentation
        self.eval_source, self.eval_data, self.input_format = None, eval_data, input_format
        if eval_data is not None:
            self.eval_source = SequenceSource(eval_data, input_format, num_joints, channels, name="eval_data")
            self.eval_labels = labels_of(eval_data, eval_labels, "eval_data")
            if len(self.eval_labels) != len(self.eval_source):
                raise ValueError(
                    f"eval_labels: expected {len(self.eval_source)} labels, got {len(self.eval_labels)}"
                )
        self.data_description = data_description or f"{len(self.source)} sequences ({type(train_data).__name__})"
        self.global_step = 0
        self.history: list[dict[str, Any]] = []

    # ---- schedule ------------------------------------------------------------------------------------------
    def steps_per_epoch(self, world_size: int = 1) -> int:
        """Optimizer steps per epoch for a given number of processes."""
        return (len(self.dataset) // world_size) // (self.args.batch_size // world_size)

    def _warmup(self, horizon: int) -> int:
        if self.args.warmup_steps is not None:
            return self.args.warmup_steps
        return min(1000, round(0.05 * horizon))

    def _lr_factor(self, step: int, horizon: int) -> float:
        """Multiplier of ``lr``: linear warm-up from ``1 / (warmup + 1)``, then cosine to ``min_lr_ratio``."""
        return warmup_cosine(step, horizon, self._warmup(horizon), 1.0, self.args.min_lr_ratio, warmup_start=1)

    def _momentum(self, step: int, horizon: int) -> float:
        """EMA momentum: cosine from ``ema_momentum`` to ``ema_momentum_end`` over the schedule."""
        return warmup_cosine(step, horizon, 0, self.config.ema_momentum, self.config.ema_momentum_end)

    # ---- checkpoints ---------------------------------------------------------------------------------------
    def checkpoints(self) -> list[Path]:
        """Complete checkpoints in ``output_dir`` (every file present), oldest first."""
        return ckpt.list_checkpoints(self.args.output_dir)

    def _args(self) -> dict[str, Any]:
        """The arguments a checkpoint records, and a resumed run must share."""
        a = self.args
        return {
            "epochs": a.epochs,
            "batch_size": a.batch_size,
            "lr": a.lr,
            "weight_decay": a.weight_decay,
            "warmup_steps": a.warmup_steps,
            "min_lr_ratio": a.min_lr_ratio,
            "grad_clip": a.grad_clip,
            "seed": a.seed,
            "num_examples": len(self.dataset),
        }

    def _save(self, run: _Run, epoch: int, step_in_epoch: int) -> None:
        run.last_saved = self.global_step
        if run.rank != 0:
            return
        state = {"epoch": epoch, "step_in_epoch": step_in_epoch, "world_size": run.world, "args": self._args(),
                 "last_metrics": self.history[-1] if self.history else None}
        ckpt.save_checkpoint(self.args.output_dir, self.global_step, run.model, run.teacher, run.optimizer,
                             run.scheduler, state, keep=self.args.save_total_limit)

    def _resume(self, run: _Run) -> tuple[int, int]:
        """Load the newest intact checkpoint, if any: ``(epoch, step in epoch)`` to continue from."""
        out = self.args.output_dir
        self.global_step, self.history = 0, []
        if run.rank == 0:
            ckpt.remove_stale(out)
        path = ckpt.newest_intact(self.checkpoints())
        epoch, in_epoch = 0, 0
        if path is not None:
            info = ckpt.read_trainer_state(path)
            ckpt.check_same_run(path, info, self.config, self._args())
            ckpt.load_checkpoint(path, run.model, run.teacher, run.optimizer, run.scheduler)
            self.global_step = int(info["global_step"])
            if info.get("last_metrics"):
                self.history = [info["last_metrics"]]
            epoch, in_epoch = int(info["epoch"]), int(info["step_in_epoch"])
            logger.info("resuming from %s (step %d)", path, self.global_step)
        if run.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        return epoch, in_epoch

    # ---- evaluation ----------------------------------------------------------------------------------------
    def evaluate(self, device: str | torch.device | None = None) -> dict[str, float]:
        """kNN monitor on ``eval_data``: leave-one-out cosine 1-NN top-1 of the student's embeddings.

        Args:
            device: Device to embed on (default: the encoder's).

        Returns:
            ``{"knn_top1": accuracy}`` (empty without ``eval_data``).
        """
        if self.eval_source is None:
            return {}
        dev = device or next(self.encoder.parameters()).device
        return {"knn_top1": knn_monitor(self.encoder, self.eval_data, self.eval_labels, self.args.batch_size,
                                        self.input_format, dev)}

    def _eval_and_log(self, run: _Run) -> None:
        if run.rank == 0:
            res = self.evaluate()
            run.log.write({"step": self.global_step, "epoch": round(self.global_step / run.steps_per_epoch, 4),
                           **res})
            self.encoder.train()
        if is_distributed():
            dist.barrier()

    # ---- training ------------------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train until ``epochs`` (or ``max_steps``) are done, resuming from the newest checkpoint.

        Returns:
            The last metrics record (step, loss, mfm, glcl, lr, momentum, samples/s; knn_top1 if evaluated).
        """
        device = default_device(self.args.device)
        owns_pg = _setup_distributed(device)
        try:
            return self._fit(device)
        finally:
            if owns_pg and is_distributed():
                dist.barrier()
                dist.destroy_process_group()

    def _fit(self, device: torch.device) -> dict[str, Any]:
        run = self._prepare(device)
        epoch, in_epoch = self._resume(run)
        self._start(run)
        while self.global_step < run.stop and epoch < self.args.epochs:
            in_epoch = self._train_epoch(run, epoch, in_epoch)
            if in_epoch < run.steps_per_epoch:  # stopped by max_steps inside the epoch
                break
            epoch, in_epoch = epoch + 1, 0
            self._flush(run)
            if self.eval_source is not None and epoch % self.args.eval_every == 0 and self.global_step < run.stop:
                self._eval_and_log(run)
            self._save(run, epoch, 0)
        return self._finish(run, epoch, in_epoch)

    def _prepare(self, device: torch.device) -> _Run:
        """Schedule sizes, student with heads, teacher, optimizer and lr schedule on ``device``."""
        a, world = self.args, world_size()
        if a.batch_size % world:
            raise ValueError(f"batch_size: expected a multiple of the world size {world}, got {a.batch_size}")
        spe = self.steps_per_epoch(world)
        if spe < 1:
            raise ValueError(
                f"batch_size: {a.batch_size} is larger than the training set "
                f"({len(self.dataset)} sequences over {world} processes); lower it"
            )
        horizon = a.epochs * spe
        if device.type == "cuda":
            torch.set_float32_matmul_precision("high")
        self.encoder.to(device).train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(a.seed + 1)  # heads: same initial weights on every process and every run
            model = SLiMPretrainModel(self.encoder).to(device)
        teacher = EMATeacher(model).to(device)
        opt = make_optimizer(model, a.lr, a.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: self._lr_factor(s, horizon))
        return _Run(device=device, rank=rank(), world=world, local_batch=a.batch_size // world,
                    steps_per_epoch=spe, horizon=horizon,
                    stop=horizon if a.max_steps is None else min(horizon, a.max_steps),
                    model=model, teacher=teacher, optimizer=opt, scheduler=sched)

    def _start(self, run: _Run) -> None:
        """After resuming: the step (DDP, compile), the sampler and loader, the metrics log and progress bar."""
        a, device = self.args, run.device
        student: nn.Module = run.model
        if run.world > 1:
            student = nn.parallel.DistributedDataParallel(
                run.model, device_ids=[device.index] if device.type == "cuda" else None
            )
        teacher: nn.Module = run.teacher
        if a.compile:
            student, teacher = torch.compile(student), torch.compile(teacher)
        bf16 = a.precision == "bf16" or (
            a.precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
        )
        run.step = PretrainStep(run.model, run.teacher, self.augmentation, bf16=bf16, student_fn=student,
                                teacher_fn=teacher)
        if self.item_weights is not None:
            run.sampler = WeightedResumableSampler(self.dataset, run.world, run.rank, a.seed, self.item_weights)
        else:
            run.sampler = ResumableSampler(self.dataset, run.world, run.rank, a.seed)
        workers = a.num_workers
        if workers is None:
            workers = 0 if device.type != "cuda" else min(8, max(1, (os.cpu_count() or 1) // run.world))
        run.loader = DataLoader(
            self.dataset,
            batch_size=run.local_batch,
            sampler=run.sampler,
            drop_last=True,
            collate_fn=pretrain_collate,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(a.seed),
        )
        run.log = MetricsLog(a.output_dir, self.history, device, a.tensorboard)
        run.log.trim(self.global_step)
        show = a.show_progress_bar
        run.bar = tqdm(
            total=run.stop,
            initial=min(self.global_step, run.stop),
            unit="step",
            desc="pretrain",
            disable=True if run.rank != 0 else (None if show is None else not show),
            dynamic_ncols=True,
        )
        run.record = self.history[-1] if self.history else {}
        run.last_saved = self.global_step

    def _train_epoch(self, run: _Run, epoch: int, in_epoch: int) -> int:
        """Steps of epoch ``epoch`` from batch ``in_epoch`` on, until its end or ``run.stop``; returns the
        batches of the epoch done."""
        run.sampler.set_epoch(epoch)
        run.sampler.start = in_epoch * run.local_batch
        for x, lengths, index in run.loader:
            self._train_step(run, epoch, x, lengths, index)
            in_epoch += 1
            if self.global_step % self.args.log_every == 0:
                self._flush(run)
            if self.global_step >= run.stop:
                break
            if self.global_step % self.args.save_every == 0 and in_epoch < run.steps_per_epoch:
                self._flush(run)
                self._save(run, epoch, in_epoch)
        return in_epoch

    def _train_step(self, run: _Run, epoch: int, x: torch.Tensor, lengths: torch.Tensor,
                    index: torch.Tensor) -> None:
        # drop-path draws from torch's global generator: reseed it from (seed, step, rank) so a resumed run
        # needs no generator state
        torch.manual_seed(_step_seed(self.args.seed, self.global_step, run.rank))
        x = x.to(run.device, non_blocking=True)
        lengths, index = lengths.to(run.device), index.to(run.device)
        gen = PerSampleGenerator(index + epoch * (1 << 32), seed=self.args.seed)
        loss, parts = run.step(x, lengths, gen, run.optimizer, scheduler=run.scheduler,
                               momentum=self._momentum(self.global_step, run.horizon),
                               grad_clip=self.args.grad_clip, ids=index)
        self.global_step += 1
        run.log.add(loss, parts)
        run.bar.update(1)

    def _flush(self, run: _Run) -> None:
        """Write the metrics record of the steps since the last one (a collective under DDP)."""
        record = run.log.flush(
            step=self.global_step,
            epoch=round(self.global_step / run.steps_per_epoch, 4),
            lr=run.optimizer.param_groups[0]["lr"],
            momentum=self._momentum(self.global_step, run.horizon),
            batch_size=self.args.batch_size,
        )
        if record is not None:
            run.record = record
            run.bar.set_postfix(loss=f"{record['loss']:.4f}", samples_s=f"{record['samples_per_s']:.0f}")

    def _finish(self, run: _Run, epoch: int, in_epoch: int) -> dict[str, Any]:
        self._flush(run)
        if self.eval_source is not None:
            self._eval_and_log(run)
        if self.global_step != run.last_saved:
            self._save(run, epoch, in_epoch)
        run.bar.close()
        run.log.close()
        self.encoder.eval()
        self.encoder.card_info = self._card_info(run.record)
        evals = [r for r in self.history if "knn_top1" in r]
        return {**run.record, **({"knn_top1": evals[-1]["knn_top1"]} if evals else {})}

    def _card_info(self, record: dict[str, Any]) -> dict[str, Any]:
        c, a = self.config, self.args
        results = {}
        knn = [r["knn_top1"] for r in self.history if "knn_top1" in r]
        if knn:
            results["kNN 1-NN top-1 (leave-one-out, eval_data)"] = round(100 * knn[-1], 2)
        return {
            "training_data": self.data_description,
            "results": results,
            "protocol": (
                "kNN monitor: leave-one-out cosine 1-NN on the eval_data passed to the Trainer, "
                "full-length view resampled to num_frames."
            )
            if knn
            else "",
            "notes": (
                f"Pretrained with slimkit.Trainer: {self.global_step} steps, global batch {a.batch_size}, "
                f"AdamW lr {a.lr:g} (cosine, warmup), mask {c.mask_type} ratio {c.mask_ratio}, "
                f"{c.num_global_views} global + {c.num_local_views} local views, seed {a.seed}."
            ),
            "global_step": self.global_step,
            "final_loss": record.get("loss"),
        }


def _arg_property(name: str) -> property:
    def get(self: Trainer) -> Any:
        return getattr(self.args, name)

    def set_(self: Trainer, value: Any) -> None:
        self.args = dataclasses.replace(self.args, **{name: value})  # checked again

    return property(get, set_, doc=f"``args.{name}``.")


for _name in TrainingArguments.field_names():
    setattr(Trainer, _name, _arg_property(_name))


def _encoder(config_or_encoder: Any, seed: int) -> SLiMEncoder:
    """The student to train: the encoder given, a new one from a config (initialised from ``seed``), or a
    pretrained one."""
    if isinstance(config_or_encoder, SLiMEncoder):
        return config_or_encoder
    if isinstance(config_or_encoder, (SLiMConfig, dict)):
        torch.manual_seed(seed)
        return SLiMEncoder(config_or_encoder)
    if isinstance(config_or_encoder, (str, os.PathLike)):
        return SLiMEncoder.from_pretrained(config_or_encoder)
    raise TypeError(
        f"config_or_encoder: expected a SLiMConfig, a dict, a SLiMEncoder or a pretrained "
        f"name, got {type(config_or_encoder).__name__}"
    )


def _setup_distributed(device: torch.device) -> bool:
    """Initialise the process group under torchrun (or any launcher setting WORLD_SIZE > 1); True if this call
    did (and ``fit`` must destroy it)."""
    if is_distributed() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True
