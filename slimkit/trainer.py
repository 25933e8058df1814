"""`Trainer`: decoder-free SLiM pretraining on CPU, one GPU or many (``torchrun``), resumable.

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
   longest, with its valid length and its dataset index;
2. on the training device, each sequence gets ``num_global_views`` global views (crop of
   ``U[global_crop_min, 1]`` of its valid frames resampled to ``num_frames``) and ``num_local_views`` local
   views (``U[local_crop_min, local_crop_max]``, resampled to ``config.local_view_frames``), each augmented
   independently ([`slimkit.transforms.default_augmentation`][slimkit.transforms.default_augmentation]), and a mask
   per global view (``config.mask_type``);
   all random draws come from a [`PerSampleGenerator`][slimkit.transforms.PerSampleGenerator] keyed by (seed, epoch,
   dataset index), so a sequence gets the same views in any process, batch or resumed run;
3. the EMA teacher (encoder + projector, never wrapped in DDP) encodes the unmasked global views; the student
   encodes the masked global views and the local views; loss = ``mfm_weight * MFM + glcl_weight * GLCL``
   ([`slimkit.losses`][slimkit.losses]);
4. AdamW step (no weight decay on norms, biases and embeddings), cosine lr with linear warmup, gradient
   clipping, then the EMA update with a cosine momentum schedule ``ema_momentum -> ema_momentum_end``.

Checkpoints (``output_dir/checkpoint-{step}/``, written to ``checkpoint-{step}.tmp/`` and renamed):
``config.json`` + ``model.safetensors`` (the student encoder: the folder loads with
``SLiMEncoder.from_pretrained``), ``heads.safetensors``, ``teacher.safetensors``, ``training_state.pt``
(optimizer, scheduler and RNG states; loads with ``torch.load(weights_only=True)``) and
``trainer_state.json`` (step, epoch, position in the epoch, config, arguments). They are written every
``save_every`` steps, at the end of each epoch and at the end of ``fit()``; the newest ``save_total_limit``
are kept. Metrics go to ``output_dir/metrics.jsonl`` (and TensorBoard when installed).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import pickle
import random
import re
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from ._integrity import CHECKSUMS_NAME, apply_umask, verify_checksums, write_checksums
from .config import SLiMConfig
from .eval.knn import knn_top1
from .heads import ProjectionHead
from .hub import load_state_strict, save_weights
from .layouts import get_layout
from .losses import GlobalLocalContrastiveLoss, MaskedFeatureLoss
from .model import SLiMEncoder
from .preprocessing import SequenceSource, standardize
from .transforms import PerSampleGenerator, TemporalCrop, build_mask, default_augmentation, token_motion

__all__ = ["Trainer", "PretrainDataset", "SLiMPretrainModel", "knn_top1"]

logger = logging.getLogger("slimkit")

_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")
_NO_DECAY = ("patch_bias", "time_embed", "group_embed", "mask_token")
_CKPT_FILES = (
    "config.json",
    "model.safetensors",
    "heads.safetensors",
    "teacher.safetensors",
    "training_state.pt",
    "trainer_state.json",
)


# ----------------------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------------------
class PretrainDataset(Dataset):
    """Items ``(sequence (max_persons, T', V, C) float32 tensor, index)``: cleaned, not resampled.

    Args:
        source: A [`SequenceSource`][slimkit.preprocessing.SequenceSource].
        config: The encoder's config (cleaning options, layout, persons).
        name: Name used in error messages.
    """

    def __init__(self, source: SequenceSource, config: SLiMConfig, name: str = "train_data") -> None:
        self.source, self.config, self.name = source, config, name
        self.layout = get_layout(config.layout)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        seq = self.source.batch(index, index + 1)[0]
        a = standardize(seq, self.config, self.layout, name=f"{self.name}[{index}]")
        if a.shape[0] < self.config.max_persons:
            pad = np.full((self.config.max_persons - a.shape[0],) + a.shape[1:], np.nan, dtype=a.dtype)
            a = np.concatenate([a, pad])
        return torch.from_numpy(a), index


def _collate(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad in time with ``NaN``: ``(x (N, M, T_max, V, C), lengths (N,), index (N,))``."""
    t_max = max(x.shape[1] for x, _ in items)
    m, _, v, c = items[0][0].shape
    out = torch.full((len(items), m, t_max, v, c), float("nan"), dtype=torch.float32)
    for i, (x, _) in enumerate(items):
        out[i, :, : x.shape[1]] = x
    lengths = torch.tensor([x.shape[1] for x, _ in items], dtype=torch.long)
    index = torch.tensor([i for _, i in items], dtype=torch.long)
    return out, lengths, index


class CorpusSource:
    """Several sources read as one: items ``0..len(a)-1`` from the first, then the second, and so on.

    Args:
        sources: [`SequenceSource`][slimkit.preprocessing.SequenceSource] objects, all in the model's layout.
    """

    def __init__(self, sources: Sequence[SequenceSource]) -> None:
        self.sources = list(sources)
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources])
        self.name = "train_data"

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """``(source number, index within it)`` of a corpus index."""
        k = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return k, index - int(self.offsets[k])

    def batch(self, start: int, stop: int) -> list[np.ndarray]:
        out = []
        for i in range(start, stop):
            k, j = self.locate(i)
            out.extend(self.sources[k].batch(j, j + 1))
        return out


def _is_corpus(data: Any) -> bool:
    """A list of data sets (``SkeletonDataset`` objects or paths), as opposed to a list of sequences."""
    from .data import SkeletonDataset

    return isinstance(data, (list, tuple)) and len(data) > 0 and all(
        isinstance(d, (SkeletonDataset, str, os.PathLike)) for d in data
    )


class _ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (shuffled per epoch, ``drop_last``) that can start in the middle of an epoch."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.start = 0

    def __iter__(self):
        return iter(list(super().__iter__())[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start


class _WeightedResumableSampler(_ResumableSampler):
    """Draws each epoch's items with replacement, item ``i`` with probability ``item_weights[i]`` (set so that
    each data set of a corpus gets its stated share), from a generator seeded by ``(seed, epoch)``: every
    process draws the same list and takes its own shard, and a resumed run draws it again identically."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int,
                 item_weights: torch.Tensor) -> None:
        super().__init__(dataset, num_replicas, rank, seed)
        self.item_weights = item_weights

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        idx = torch.multinomial(self.item_weights, self.total_size, replacement=True, generator=g).tolist()
        return iter(idx[self.rank : self.total_size : self.num_replicas][self.start :])


# ----------------------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------------------
class SLiMPretrainModel(nn.Module):
    """Student side of SLiM pretraining: encoder + MFM head + contrastive projector and predictor.

    One ``forward`` call computes the whole loss, so DistributedDataParallel sees one forward per step.

    Args:
        encoder: The student [`SLiMEncoder`][slimkit.model.SLiMEncoder].
    """

    def __init__(self, encoder: SLiMEncoder) -> None:
        super().__init__()
        c = encoder.config
        d = c.dim
        self.encoder = encoder
        self.mfm_head = ProjectionHead(d, d, d)
        self.projector = ProjectionHead(encoder.embed_dim, 2 * d, c.proj_dim)
        self.predictor = ProjectionHead(c.proj_dim, 2 * c.proj_dim, c.proj_dim)
        self.mfm_loss = MaskedFeatureLoss()
        self.glcl_loss = GlobalLocalContrastiveLoss(c.temperature)

    def forward(
        self,
        global_views: torch.Tensor,
        mask: torch.Tensor,
        local_views: torch.Tensor | None,
        teacher_tokens: torch.Tensor,
        teacher_keys: Sequence[torch.Tensor],
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of one batch.

        The masked global views feed masked feature modeling. The contrastive queries come from an unmasked
        forward of the same global views (``config.contrast_view="clean"``) or, paper-faithfully, from the
        masked forward (``"masked"``), plus the local views; both are pooled with the encoder's pooling
        (time-ordered by default).

        Args:
            global_views: ``(G*N, M, T, V, C)`` global views, view-major.
            mask: ``(G*N, L)`` bool token mask of each global view.
            local_views: ``(Lc*N, M, T_local, V, C)`` local views, or ``None``.
            teacher_tokens: ``(G*N, M, L, D)`` teacher token features of the unmasked global views.
            teacher_keys: ``G`` teacher projections ``(N, proj_dim)``.

        Returns:
            ``(total, {"mfm": ..., "glcl": ...})``.
        """
        c = self.encoder.config
        present = self.encoder.persons_present(global_views)
        zero = global_views.new_zeros(())
        masked_tokens = None
        if c.mfm_weight > 0 or c.contrast_view == "masked":
            masked_tokens = self.encoder(global_views, mask)
        mfm = (self.mfm_loss(self.mfm_head(masked_tokens), teacher_tokens, mask, present)
               if c.mfm_weight > 0 else zero)
        if c.glcl_weight > 0:
            if c.contrast_view == "masked":
                pooled = [self.encoder.pool(masked_tokens, present)]
            else:
                pooled = [self.encoder.encode(global_views)]
            if local_views is not None:
                pooled.append(self.encoder.encode(local_views))
            queries = self.predictor(self.projector(torch.cat(pooled)))
            glcl = self.glcl_loss(list(queries.chunk(queries.shape[0] // teacher_keys[0].shape[0])),
                                  teacher_keys)
        else:
            glcl = zero
        total = c.mfm_weight * mfm + c.glcl_weight * glcl
        return total, {"mfm": mfm.detach(), "glcl": glcl.detach()}


class _Teacher(nn.Module):
    """EMA copy of the student's encoder and projector."""

    def __init__(self, student: SLiMPretrainModel) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(student.encoder)
        self.projector = copy.deepcopy(student.projector)
        self.requires_grad_(False)
        self.eval()

    def forward(self, global_views: torch.Tensor, num_views: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        tokens = self.encoder(global_views)
        keys = self.projector(self.encoder.pool(tokens, self.encoder.persons_present(global_views)))
        return tokens, list(keys.chunk(num_views))

    @torch.no_grad()
    def update(self, student: SLiMPretrainModel, momentum: float) -> None:
        src = list(student.encoder.parameters()) + list(student.projector.parameters())
        dst = list(self.encoder.parameters()) + list(self.projector.parameters())
        torch._foreach_lerp_(dst, [p.detach() for p in src], 1.0 - momentum)


# ----------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------
def _is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def _rank() -> int:
    return dist.get_rank() if _is_dist() else 0


def _world() -> int:
    return dist.get_world_size() if _is_dist() else 1


def _step_seed(seed: int, step: int, rank: int) -> int:
    """Seed of torch's global generator at one step (drop-path): a pure function, so resuming needs no
    generator state."""
    return (seed * 1_000_003 + step * 7919 + rank * 104_729) % (2**63 - 1)


def _labels_of(data: Any, labels: Any, name: str) -> np.ndarray:
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


def _newest_intact(ckpts: list[Path]) -> Path | None:
    """The newest checkpoint whose files match the checksums written at save time; warns for each skipped one.

    Checkpoints of an older slimkit (no ``checksums.json``) are taken as they are.
    """
    skipped = []
    for path in reversed(ckpts):
        if not (path / CHECKSUMS_NAME).is_file() and not _has_checksums_format(path):
            return path
        try:
            verify_checksums(path)
        except ValueError as e:
            warnings.warn(f"skipping checkpoint {path}: {e}", stacklevel=3)
            skipped.append(f"{path.name} ({e})")
            continue
        return path
    if skipped:
        raise ValueError(
            f"no intact checkpoint to resume from: {'; '.join(skipped)}. Move the folders away to start over"
        )
    return None


def _read_checkpoint_file(path: Path, read: Callable[[Path], Any]) -> Any:
    """``read(path)``, with any failure to parse the file reported as a ValueError naming it."""
    try:
        return read(path)
    except (OSError, ValueError, RuntimeError, EOFError, RecursionError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: unreadable checkpoint file ({type(e).__name__}: {e})") from None
    except Exception as e:  # safetensors raises its own SafetensorError
        if type(e).__name__ != "SafetensorError":
            raise
        raise ValueError(f"{path}: unreadable checkpoint file ({e})") from None


def _has_checksums_format(path: Path) -> bool:
    """Whether a checkpoint without ``checksums.json`` was written by a slimkit that writes one (format >= 2)."""
    try:
        return int(json.loads((path / "trainer_state.json").read_text(encoding="utf-8")).get("format", 1)) >= 2
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        return True  # unreadable: treat as corrupt, verify_checksums says why


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------------
# trainer
# ----------------------------------------------------------------------------------------------------------
class Trainer:
    """Pretrain a SLiM encoder (masked feature modeling + global-local contrastive, EMA teacher).

    Args:
        config_or_encoder: A [`SLiMConfig`][slimkit.config.SLiMConfig] (a new encoder is initialised from ``seed``), a
            dict
            of config fields, an existing [`SLiMEncoder`][slimkit.model.SLiMEncoder] (trained in place), or a pretrained
            name / folder to continue from.
        train_data: Sequences in any form [`SequenceSource`][slimkit.preprocessing.SequenceSource] accepts: an array
            ``(N, M, T, V, C)``, a list of ``(T, V, C)`` / ``(M, T, V, C)`` sequences of any lengths, or a
            dataset of ``(sequence, label)`` items (labels are ignored).
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
        augmentation: Callable ``aug(x, generator=...)`` applied to every view, ``"default"``
            ([`default_augmentation`][slimkit.transforms.default_augmentation]) or ``None`` (no augmentation).
        eval_data: Optional labelled sequences for a kNN monitor (leave-one-out cosine 1-NN of the student's
            embeddings), run at the end of every ``eval_every`` epochs and of ``fit``.
        eval_labels: Labels of ``eval_data`` when its items are not ``(sequence, label)``.
        eval_every: Epochs between kNN evaluations.
        compile: ``torch.compile`` the student and teacher (first steps are slow; off by default).
        show_progress_bar: tqdm bar on rank 0; ``None`` = only on a terminal.
        input_format: Axis order of ``train_data`` / ``eval_data`` arrays (see ``SequenceSource``).
        data_description: Text for the model card's "training data" row (default: a count of sequences).
        tensorboard: Also log to ``output_dir/tensorboard``; ``None`` = when TensorBoard is installed.
        dataset_weights: Pretrain on several data sets at once: ``train_data`` is then a list of data sets
            (``SkeletonDataset`` objects, paths that ``slimkit.data.load`` reads, or lists of sequences), each
            converted to the model's layout (joints a set lacks are missing), and each epoch draws
            ``len(corpus)`` items with replacement, set ``k`` with probability ``dataset_weights[k] /
            sum(dataset_weights)``. A list of ``SkeletonDataset`` objects or paths without weights is a corpus
            too, sampled in proportion to the sets' sizes (plain shuffling).

    Attributes:
        encoder: The student [`SLiMEncoder`][slimkit.model.SLiMEncoder]; after ``fit()`` it holds the trained weights
            (in
            eval mode) and ``card_info`` for the model card.
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
        output_dir: str | os.PathLike,
        epochs: int = 100,
        batch_size: int = 64,
        lr: float = 5e-4,
        weight_decay: float = 0.05,
        warmup_steps: int | None = None,
        min_lr_ratio: float = 0.01,
        grad_clip: float | None = 1.0,
        device: str | torch.device | None = None,
        precision: str = "auto",
        max_steps: int | None = None,
        seed: int = 0,
        num_workers: int | None = None,
        save_every: int = 500,
        save_total_limit: int | None = 2,
        log_every: int = 10,
        augmentation: Callable[..., Any] | str | None = "default",
        eval_data: Any = None,
        eval_labels: Sequence[int] | np.ndarray | None = None,
        eval_every: int = 1,
        compile: bool = False,
        show_progress_bar: bool | None = None,
        input_format: str = "auto",
        data_description: str | None = None,
        tensorboard: bool | None = None,
        dataset_weights: Sequence[float] | None = None,
    ) -> None:
        def pos_int(v: Any, name: str, allow_none: bool = False) -> None:
            if allow_none and v is None:
                return
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(
                    f"{name}: expected a positive int{' or None' if allow_none else ''}, got {v!r}"
                )

        pos_int(epochs, "epochs")
        pos_int(batch_size, "batch_size")
        pos_int(max_steps, "max_steps", allow_none=True)
        pos_int(save_every, "save_every")
        pos_int(save_total_limit, "save_total_limit", allow_none=True)
        pos_int(log_every, "log_every")
        pos_int(eval_every, "eval_every")
        if warmup_steps is not None and (not isinstance(warmup_steps, int) or warmup_steps < 0):
            raise ValueError(f"warmup_steps: expected a non-negative int or None, got {warmup_steps!r}")
        if num_workers is not None and (not isinstance(num_workers, int) or num_workers < 0):
            raise ValueError(f"num_workers: expected a non-negative int or None, got {num_workers!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"lr: expected a positive float, got {lr!r}")
        if not 0 <= min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio: expected a value in [0, 1], got {min_lr_ratio!r}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay: expected >= 0, got {weight_decay!r}")
        if precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision: expected 'auto', 'bf16' or 'fp32', got {precision!r}")
        if not (augmentation is None or augmentation == "default" or callable(augmentation)):
            raise ValueError(f"augmentation: expected 'default', None or a callable, got {augmentation!r}")

        if isinstance(config_or_encoder, SLiMEncoder):
            encoder = config_or_encoder
        elif isinstance(config_or_encoder, (SLiMConfig, dict)):
            torch.manual_seed(seed)
            encoder = SLiMEncoder(config_or_encoder)
        elif isinstance(config_or_encoder, (str, os.PathLike)):
            encoder = SLiMEncoder.from_pretrained(config_or_encoder)
        else:
            raise TypeError(
                f"config_or_encoder: expected a SLiMConfig, a dict, a SLiMEncoder or a pretrained "
                f"name, got {type(config_or_encoder).__name__}"
            )
        self.encoder: SLiMEncoder = encoder
        self.config: SLiMConfig = encoder.config
        self.output_dir = Path(output_dir)
        self.epochs, self.batch_size, self.lr = epochs, batch_size, float(lr)
        self.weight_decay, self.warmup_steps, self.min_lr_ratio = (
            float(weight_decay),
            warmup_steps,
            float(min_lr_ratio),
        )
        self.grad_clip = grad_clip
        self.device_arg, self.precision = device, precision
        self.max_steps, self.seed, self.num_workers = max_steps, seed, num_workers
        self.save_every, self.save_total_limit, self.log_every = save_every, save_total_limit, log_every
        self.eval_every, self.compile, self.show_progress_bar = eval_every, bool(compile), show_progress_bar
        self.tensorboard = tensorboard
        self.item_weights: torch.Tensor | None = None
        if dataset_weights is not None or _is_corpus(train_data):
            self.source, self.item_weights, self.corpus_names = self._corpus(
                train_data, dataset_weights, input_format)
        else:
            self.source = SequenceSource(
                train_data, input_format, encoder.layout.num_joints, self.config.in_channels, name="train_data"
            )
        self.dataset = PretrainDataset(self.source, self.config)
        self.dataset[0]  # fail fast on a shape or layout mismatch
        if batch_size > len(self.dataset):
            logger.warning(
                "batch_size=%d is larger than the training set; using %d", batch_size, len(self.dataset)
            )
            self.batch_size = len(self.dataset)
        if augmentation == "default":
            augmentation = default_augmentation(self.config.layout)
        self.augmentation = augmentation
        self.eval_source, self.eval_data, self.input_format = None, eval_data, input_format
        if eval_data is not None:
            self.eval_source = SequenceSource(
                eval_data, input_format, encoder.layout.num_joints, self.config.in_channels, name="eval_data"
            )
            self.eval_labels = _labels_of(eval_data, eval_labels, "eval_data")
            if len(self.eval_labels) != len(self.eval_source):
                raise ValueError(
                    f"eval_labels: expected {len(self.eval_source)} labels, got {len(self.eval_labels)}"
                )
        self.data_description = data_description or (
            f"{len(self.source)} sequences ({type(train_data).__name__})"
        )
        self.global_step = 0
        self.history: list[dict[str, Any]] = []

    def _corpus(self, data: Any, weights: Sequence[float] | None,
                input_format: str) -> tuple[CorpusSource, torch.Tensor | None, list[str]]:
        """Sources of a multi-set corpus, each in the model's layout, and per-item sampling weights."""
        from .data import SkeletonDataset, load

        if not isinstance(data, (list, tuple)) or not data:
            raise TypeError(
                f"train_data: with dataset_weights, expected a list of data sets, got {type(data).__name__}"
            )
        if weights is not None:
            w = [float(x) for x in weights]
            if len(w) != len(data) or not all(math.isfinite(x) and x >= 0 for x in w) or sum(w) <= 0:
                raise ValueError(
                    f"dataset_weights: expected {len(data)} non-negative weights (one per data set) with a "
                    f"positive sum, got {list(weights)!r}"
                )
        target = self.config.layout
        sources, names = [], []
        for k, d in enumerate(data):
            name = f"train_data[{k}]"
            if isinstance(d, (str, os.PathLike)):
                name = str(d)
                d = load(d)
            if isinstance(d, SkeletonDataset) and d.layout != target:
                d = d.to_layout(target)
            sources.append(SequenceSource(d, input_format, self.encoder.layout.num_joints,
                                          self.config.in_channels, name=name))
            names.append(name)
        src = CorpusSource(sources)
        if weights is None:
            return src, None, names
        sizes = np.diff(src.offsets)
        per_item = np.concatenate([np.full(n, wk / sum(w) / n) for wk, n in zip(w, sizes)])
        return src, torch.as_tensor(per_item, dtype=torch.float64), names

    # ---- schedule ------------------------------------------------------------------------------------------
    def steps_per_epoch(self, world_size: int = 1) -> int:
        """Optimizer steps per epoch for a given number of processes."""
        return (len(self.dataset) // world_size) // (self.batch_size // world_size)

    def _horizon(self, world: int) -> int:
        return self.epochs * self.steps_per_epoch(world)

    def _warmup(self, horizon: int) -> int:
        if self.warmup_steps is not None:
            return self.warmup_steps
        return min(1000, round(0.05 * horizon))

    def _lr_factor(self, step: int, horizon: int) -> float:
        w = self._warmup(horizon)
        if step < w:
            return (step + 1) / (w + 1)
        t = min(1.0, (step - w) / max(1, horizon - w))
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    def _momentum(self, step: int, horizon: int) -> float:
        c = self.config
        t = min(1.0, step / max(1, horizon))
        return c.ema_momentum_end - (c.ema_momentum_end - c.ema_momentum) * 0.5 * (1 + math.cos(math.pi * t))

    # ---- checkpoints ---------------------------------------------------------------------------------------
    def checkpoints(self) -> list[Path]:
        """Complete checkpoints in ``output_dir`` (every file present), oldest first."""
        if not self.output_dir.is_dir():
            return []
        found = [
            (int(m.group(1)), p)
            for p in self.output_dir.iterdir()
            if p.is_dir() and (m := _CKPT_RE.match(p.name))
        ]
        return [p for _, p in sorted(found) if all((p / f).is_file() for f in _CKPT_FILES)]

    def _save(
        self,
        model: SLiMPretrainModel,
        teacher: _Teacher,
        opt: torch.optim.Optimizer,
        sched: torch.optim.lr_scheduler.LRScheduler,
        epoch: int,
        step_in_epoch: int,
    ) -> None:
        if _rank() != 0:
            return
        step = self.global_step
        final = self.output_dir / f"checkpoint-{step}"
        tmp = self.output_dir / f"checkpoint-{step}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with open(tmp / "config.json", "w", encoding="utf-8") as f:
            json.dump(self.config.to_dict(), f, indent=2, sort_keys=True)
        save_weights(model.encoder, tmp / "model.safetensors")
        heads = {
            f"{name}.{k}": v.detach().cpu().contiguous()
            for name in ("mfm_head", "projector", "predictor")
            for k, v in getattr(model, name).state_dict().items()
        }
        save_file(heads, str(tmp / "heads.safetensors"))
        apply_umask(tmp / "heads.safetensors")  # safetensors writes 0600
        save_weights(teacher, tmp / "teacher.safetensors")
        np_state = np.random.get_state()
        state = {
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy_rng": [
                np_state[0],
                np_state[1].tolist(),
                int(np_state[2]),
                int(np_state[3]),
                float(np_state[4]),
            ],
            "python_rng": random.getstate(),
        }
        torch.save(state, tmp / "training_state.pt")
        info = {
            "global_step": step,
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "world_size": _world(),
            "config": self.config.to_dict(),
            "args": self._args(),
            "last_metrics": self.history[-1] if self.history else None,
            "format": 2,  # 2: checksums.json covers every file
        }
        (tmp / "trainer_state.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        write_checksums(tmp, _CKPT_FILES)  # last: resuming verifies every file against it
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        if self.save_total_limit is not None:
            for old in self.checkpoints()[: -self.save_total_limit]:
                shutil.rmtree(old, ignore_errors=True)
        logger.info("saved %s", final)

    def _args(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "warmup_steps": self.warmup_steps,
            "min_lr_ratio": self.min_lr_ratio,
            "grad_clip": self.grad_clip,
            "seed": self.seed,
            "num_examples": len(self.dataset),
        }

    def _load(
        self,
        path: Path,
        model: SLiMPretrainModel,
        teacher: _Teacher,
        opt: torch.optim.Optimizer,
        sched: torch.optim.lr_scheduler.LRScheduler,
    ) -> tuple[int, int]:
        info = _read_checkpoint_file(path / "trainer_state.json", lambda f: json.loads(f.read_text("utf-8")))
        if info["config"] != self.config.to_dict():
            diff = sorted(k for k in info["config"] if info["config"][k] != self.config.to_dict().get(k))
            raise ValueError(
                f"{path}: checkpoint config differs from this trainer's config in {diff}; use "
                "another output_dir or the same config"
            )
        mine, saved = self._args(), info["args"]
        # every argument of the schedule counts: resuming with another lr, weight decay, warm-up or clipping
        # would silently mix two runs (keys an older checkpoint did not record are not compared)
        differ = [f"{k}={saved[k]!r} (now {mine[k]!r})" for k in mine if k in saved and saved[k] != mine[k]]
        if differ:
            raise ValueError(
                f"{path}: checkpoint was trained with other arguments: {', '.join(differ)}; resuming would "
                "not continue the same run. Use the same arguments, or another output_dir to start a new run"
            )
        dev = next(model.parameters()).device
        def tensors(name: str) -> dict[str, torch.Tensor]:
            return _read_checkpoint_file(path / name, lambda f: load_file(str(f), device=str(dev)))

        load_state_strict(model.encoder, tensors("model.safetensors"), str(path))
        heads = tensors("heads.safetensors")
        for name in ("mfm_head", "projector", "predictor"):
            sub = {k[len(name) + 1 :]: v for k, v in heads.items() if k.startswith(name + ".")}
            load_state_strict(getattr(model, name), sub, f"{path}/heads.safetensors:{name}")
        load_state_strict(teacher, tensors("teacher.safetensors"), str(path))
        state = _read_checkpoint_file(
            path / "training_state.pt", lambda f: torch.load(f, map_location=dev, weights_only=True)
        )
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if (
            state["cuda_rng"]
            and torch.cuda.is_available()
            and len(state["cuda_rng"]) == torch.cuda.device_count()
        ):
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        n = state["numpy_rng"]
        np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))
        py = state["python_rng"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        self.global_step = int(info["global_step"])
        if info.get("last_metrics"):
            self.history = [info["last_metrics"]]
        return int(info["epoch"]), int(info["step_in_epoch"])

    # ---- logging -------------------------------------------------------------------------------------------
    def _log(self, record: dict[str, Any], writer: Any) -> None:
        self.history.append(record)
        if _rank() != 0:
            return
        with open(self.output_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if writer is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    writer.add_scalar(f"pretrain/{k}", v, record["step"])

    def _trim_metrics(self) -> None:
        """Drop records written after the checkpoint we resume from (a killed run wrote them)."""
        path = self.output_dir / "metrics.jsonl"
        if _rank() != 0 or not path.exists():
            return
        keep = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= self.global_step:
                    keep.append(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
        _atomic_write_text(path, "".join(k + "\n" for k in keep))

    def _writer(self) -> Any:
        if _rank() != 0 or self.tensorboard is False:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            if self.tensorboard:
                raise ImportError(
                    "tensorboard=True but TensorBoard is not installed (pip install tensorboard)"
                ) from None
            return None
        return SummaryWriter(str(self.output_dir / "tensorboard"))

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
        z = self.encoder.embed(
            self.eval_data,
            batch_size=max(1, self.batch_size),
            device=dev,
            convert_to_numpy=False,
            show_progress_bar=False,
            input_format=self.input_format,
        )
        return {"knn_top1": knn_top1(z, self.eval_labels)}

    # ---- training ------------------------------------------------------------------------------------------
    def _resolve_device(self) -> torch.device:
        if self.device_arg is not None:
            return torch.device(self.device_arg)
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")

    def _setup_distributed(self, device: torch.device) -> bool:
        """Initialise the process group under torchrun (or any launcher setting WORLD_SIZE > 1)."""
        if _is_dist() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return False
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend)
        return True

    def _optimizer(self, model: SLiMPretrainModel, device: torch.device) -> torch.optim.Optimizer:
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if p.ndim <= 1 or name.rsplit(".", 1)[-1] in _NO_DECAY:
                no_decay.append(p)
            else:
                decay.append(p)
        groups = [
            {"params": decay, "weight_decay": self.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        kw = {"fused": True} if device.type == "cuda" else {}
        return torch.optim.AdamW(groups, lr=self.lr, betas=(0.9, 0.999), **kw)

    def fit(self) -> dict[str, Any]:
        """Train until ``epochs`` (or ``max_steps``) are done, resuming from the newest checkpoint.

        Returns:
            The last metrics record (step, loss, mfm, glcl, lr, momentum, samples/s; knn_top1 if evaluated).
        """
        device = self._resolve_device()
        owns_pg = self._setup_distributed(device)
        try:
            return self._fit(device)
        finally:
            if owns_pg and _is_dist():
                dist.barrier()
                dist.destroy_process_group()

    def _fit(self, device: torch.device) -> dict[str, Any]:
        c = self.config
        rank, world = _rank(), _world()
        if self.batch_size % world:
            raise ValueError(
                f"batch_size: expected a multiple of the world size {world}, got {self.batch_size}"
            )
        local_batch = self.batch_size // world
        spe = self.steps_per_epoch(world)
        if spe < 1:
            raise ValueError(
                f"batch_size: {self.batch_size} is larger than the training set "
                f"({len(self.dataset)} sequences over {world} processes); lower it"
            )
        horizon = self.epochs * spe
        use_bf16 = self.precision == "bf16" or (
            self.precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
        )
        if device.type == "cuda":
            torch.set_float32_matmul_precision("high")

        self.encoder.to(device).train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)  # heads: same initial weights on every process and every run
            model = SLiMPretrainModel(self.encoder).to(device)
        teacher = _Teacher(model).to(device)
        opt = self._optimizer(model, device)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: self._lr_factor(s, horizon))

        start_epoch, start_in_epoch = 0, 0
        self.global_step, self.history = 0, []
        if rank == 0 and self.output_dir.is_dir():
            for stale in self.output_dir.glob("checkpoint-*.tmp"):
                shutil.rmtree(stale, ignore_errors=True)
        ckpt = _newest_intact(self.checkpoints())
        if ckpt is not None:
            start_epoch, start_in_epoch = self._load(ckpt, model, teacher, opt, sched)
            logger.info("resuming from %s (step %d)", ckpt, self.global_step)
        if rank == 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self._trim_metrics()

        stop = horizon if self.max_steps is None else min(horizon, self.max_steps)
        ddp_model: nn.Module = model
        if world > 1:
            ddp_model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        step_fn, teacher_fn = ddp_model, teacher
        if self.compile:
            step_fn, teacher_fn = torch.compile(ddp_model), torch.compile(teacher)

        if self.item_weights is not None:
            sampler = _WeightedResumableSampler(self.dataset, world, rank, self.seed, self.item_weights)
        else:
            sampler = _ResumableSampler(self.dataset, world, rank, self.seed)
        workers = self.num_workers
        if workers is None:
            workers = 0 if device.type != "cuda" else min(8, max(1, (os.cpu_count() or 1) // world))
        loader = DataLoader(
            self.dataset,
            batch_size=local_batch,
            sampler=sampler,
            drop_last=True,
            collate_fn=_collate,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(self.seed),
        )
        gcrop = TemporalCrop(c.num_frames, c.global_crop_min, 1.0)
        lcrop = TemporalCrop(c.local_view_frames, c.local_crop_min, c.local_crop_max)
        masker = build_mask(c)
        num_patches = c.num_patches
        group_part = self.encoder.group_part
        aug = self.augmentation

        writer = self._writer()
        show = self.show_progress_bar
        bar = tqdm(
            total=stop,
            initial=min(self.global_step, stop),
            unit="step",
            desc="pretrain",
            disable=True if rank != 0 else (None if show is None else not show),
            dynamic_ncols=True,
        )
        win_loss = torch.zeros(3, device=device, dtype=torch.float64)
        win_steps, win_t0 = 0, time.perf_counter()
        last_saved = self.global_step
        record: dict[str, Any] = self.history[-1] if self.history else {}

        def views(
            x: torch.Tensor, lengths: torch.Tensor, gen: PerSampleGenerator
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
            gv, lv, masks = [], [], []
            for _ in range(c.num_global_views):
                v = gcrop(x, lengths, generator=gen)
                gv.append(aug(v, generator=gen) if aug is not None else v)
            for _ in range(c.num_local_views):
                v = lcrop(x, lengths, generator=gen)
                lv.append(aug(v, generator=gen) if aug is not None else v)
            for v in gv:
                motion = (
                    token_motion(v, c.t_patch, self.encoder.group_index) if c.mask_type == "motion" else None
                )
                masks.append(
                    masker(x.shape[0], num_patches, group_part, generator=gen, device=device, motion=motion)
                )
            return torch.cat(gv), torch.cat(masks), (torch.cat(lv) if lv else None)

        def flush_log() -> None:
            nonlocal win_loss, win_steps, win_t0, record
            if win_steps == 0:
                return
            sums = win_loss.clone()
            if world > 1:
                dist.all_reduce(sums)
                sums /= world
            elapsed = time.perf_counter() - win_t0
            mean = (sums / win_steps).tolist()
            record = {
                "step": self.global_step,
                "epoch": round(self.global_step / spe, 4),
                "loss": mean[0],
                "mfm": mean[1],
                "glcl": mean[2],
                "lr": opt.param_groups[0]["lr"],
                "momentum": self._momentum(self.global_step, horizon),
                "samples_per_s": win_steps * self.batch_size / max(elapsed, 1e-9),
            }
            self._log(record, writer)
            bar.set_postfix(loss=f"{mean[0]:.4f}", samples_s=f"{record['samples_per_s']:.0f}")
            win_loss = torch.zeros_like(win_loss)
            win_steps, win_t0 = 0, time.perf_counter()

        epoch, in_epoch = start_epoch, start_in_epoch
        while self.global_step < stop and epoch < self.epochs:
            sampler.set_epoch(epoch)
            sampler.start = in_epoch * local_batch
            for x, lengths, index in loader:
                # drop-path draws from torch's global generator: reseed it from (seed, step, rank) so a
                # resumed run needs no generator state
                torch.manual_seed(_step_seed(self.seed, self.global_step, rank))
                x = x.to(device, non_blocking=True)
                lengths, index = lengths.to(device), index.to(device)
                gen = PerSampleGenerator(index + epoch * (1 << 32), seed=self.seed)
                with torch.no_grad():
                    gv, mask, lv = views(x, lengths, gen)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    with torch.no_grad():
                        t_tokens, t_keys = teacher_fn(gv, c.num_global_views)
                    loss, parts = step_fn(gv, mask, lv, t_tokens, t_keys)
                loss.backward()
                if self.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                teacher.update(model, self._momentum(self.global_step, horizon))
                self.global_step += 1
                in_epoch += 1
                win_loss += torch.stack([loss.detach(), parts["mfm"], parts["glcl"]]).double()
                win_steps += 1
                bar.update(1)
                if self.global_step % self.log_every == 0:
                    flush_log()
                if self.global_step >= stop:
                    break
                if self.global_step % self.save_every == 0 and in_epoch < spe:
                    flush_log()
                    self._save(model, teacher, opt, sched, epoch, in_epoch)
                    last_saved = self.global_step
            if in_epoch < spe:  # stopped by max_steps inside the epoch
                break
            epoch, in_epoch = epoch + 1, 0
            flush_log()
            if self.eval_source is not None and epoch % self.eval_every == 0 and self.global_step < stop:
                self._eval_and_log(rank, writer, spe)
            self._save(model, teacher, opt, sched, epoch, 0)
            last_saved = self.global_step
        flush_log()
        if self.eval_source is not None:
            self._eval_and_log(rank, writer, spe)
        if self.global_step != last_saved:
            self._save(model, teacher, opt, sched, epoch, in_epoch)
        bar.close()
        if writer is not None:
            writer.close()
        self.encoder.eval()
        self.encoder.card_info = self._card_info(record)
        evals = [r for r in self.history if "knn_top1" in r]
        return {**record, **({"knn_top1": evals[-1]["knn_top1"]} if evals else {})}

    def _eval_and_log(self, rank: int, writer: Any, spe: int) -> None:
        if rank == 0:
            res = self.evaluate()
            self._log({"step": self.global_step, "epoch": round(self.global_step / spe, 4), **res}, writer)
            self.encoder.train()
        if _is_dist():
            dist.barrier()

    def _card_info(self, record: dict[str, Any]) -> dict[str, Any]:
        c = self.config
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
                f"Pretrained with slimkit.Trainer: {self.global_step} steps, global batch {self.batch_size}, "
                f"AdamW lr {self.lr:g} (cosine, warmup), mask {c.mask_type} ratio {c.mask_ratio}, "
                f"{c.num_global_views} global + {c.num_local_views} local views, seed {self.seed}."
            ),
            "global_step": self.global_step,
            "final_loss": record.get("loss"),
        }
