"""Evaluation protocols of the skeleton SSL literature, pinned in code and printed with every result.

* [`knn_accuracy`][slimkit.evaluation.knn_accuracy]: action retrieval as in STARS: test embeddings query a gallery of
train embeddings
  (cosine, exact FAISS search), top-1 accuracy of the ``k``-nearest-neighbour vote.
* [`linear_probe`][slimkit.evaluation.linear_probe]: MAMP's linear evaluation: frozen features, ``BatchNorm1d(D,
affine=False, eps=1e-6)``
  + ``Linear``, SGD (momentum 0.9, lr 0.1, weight decay 0), batch 256, 100 epochs, per-iteration cosine
  schedule without warm-up; with an encoder, train views are random crops + rotations, the test view a centre
  crop.
* [`finetune`][slimkit.evaluation.finetune]: MAMP's fine-tuning recipe (AdamW, layer-wise lr decay, label smoothing,
drop path) with a
  linear head on the pooled embedding.
* [`semi_supervised`][slimkit.evaluation.semi_supervised]: the same on a seeded, class-stratified 1 % / 10 % label
subset.

Every function takes either precomputed embeddings ``(N, D)`` (``encoder=None``) or, with ``encoder=``, raw
skeletons in any form [`SLiMEncoder.embed`][slimkit.model.SLiMEncoder.embed] accepts, and returns an
[`EvalResult`][slimkit.evaluation.EvalResult] whose ``str()`` prints the accuracy beside the protocol that produced it.
Accuracies are fractions in ``[0, 1]``, measured once at the end of training (no selection of the best
epoch on the test set).
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from .model import SLiMEncoder

__all__ = [
    "EvalResult",
    "knn_accuracy",
    "linear_probe",
    "finetune",
    "semi_supervised",
    "stratified_subset",
    "center_view_embeddings",
]

log = logging.getLogger(__name__)

# MAMP's views (feeder_ntu.py / tools.py): train crop p ~ U[0.5, 1] of the valid frames, at least 64 frames,
# rotation U[-0.3, 0.3] rad per axis; test: centre crop p = 0.95. STARS' kNN uses the same centre view.
TRAIN_CROP = (0.5, 1.0)
MIN_CROP_FRAMES = 64
ROTATION = 0.3
CENTER_CROP = 0.95


@dataclass
class EvalResult:
    """Accuracy of one evaluation, with the protocol that produced it.

    Attributes:
        accuracy: Top-1 accuracy, a fraction in ``[0, 1]``.
        protocol: Human-readable description of the protocol (split sizes, views, recipe, seed).
        metrics: Further figures (``top5`` where defined, ``num_train``, ``num_test``, ``num_classes``...).
        model: The trained classifier (``None`` for kNN): for [`linear_probe`][slimkit.evaluation.linear_probe], the
            BN + Linear head on
            features; for [`finetune`][slimkit.evaluation.finetune], a module mapping prepared skeletons ``(N, M, T,
            V, C)`` to logits.
        classes: The class labels, in the order of the classifier's outputs.
        predictions: ``(Q,)`` predicted class of each test item, as an index into ``classes``, where the
            protocol makes one (kNN, linear probe).
        targets: ``(Q,)`` true class of each test item, an index into ``classes`` (``-1``: a class the
            train set lacks).
        scores: ``(Q, len(classes))`` class scores that rank the classes for top-5: the probe's logits; for
            kNN, the votes among the ``k`` nearest, ties broken by each class's best cosine similarity.
    """

    accuracy: float
    protocol: str
    metrics: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)
    classes: np.ndarray | None = field(default=None, repr=False)
    predictions: np.ndarray | None = field(default=None, repr=False)
    targets: np.ndarray | None = field(default=None, repr=False)
    scores: np.ndarray | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"top-1 {100 * self.accuracy:.2f} %  [{self.protocol}]"

    def __float__(self) -> float:
        return float(self.accuracy)

    def to_dict(self) -> dict[str, Any]:
        """``accuracy``, ``protocol`` and ``metrics`` as a JSON-friendly dict."""
        return {"accuracy": self.accuracy, "protocol": self.protocol, **self.metrics}

    def to_classifier(self, encoder: SLiMEncoder | None = None, class_names: Any = None,
                      training_data: str | None = None, test_data: str | None = None) -> Any:
        """The trained head (``model``) with its encoder as a [`SLiMClassifier`][slimkit.classifier.SLiMClassifier].

        Args:
            encoder: The frozen encoder of a linear probe (a fine-tuning result holds its own).
            class_names: Names of the labels: a list indexed by int label (e.g. ``dataset.classes``) or a dict.
            training_data: Description of the training data, written into the model card.
            test_data: Description of the data the accuracy was measured on, for the card.

        Returns:
            A ``SLiMClassifier`` whose card states the data, this protocol and this accuracy.
        """
        from .classifier import SLiMClassifier

        return SLiMClassifier.from_result(self, encoder, class_names, training_data, test_data)


# ---- inputs ------------------------------------------------------------------------------------------------
def _labels(labels: Any, data: Any, name: str, n: int) -> np.ndarray:
    if labels is None:
        labels = getattr(data, "labels", None)
        if labels is None:
            raise ValueError(f"{name}: labels are required (the data carries no .labels)")
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    a = np.asarray(labels)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name}: expected {n} labels (one per sample), got shape {a.shape}")
    if a.dtype == object or a.dtype.kind not in "iuU":
        raise TypeError(f"{name}: expected int or str labels, got dtype {a.dtype}")
    return a


def _embeddings(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    a = np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "fiu":
        raise TypeError(
            f"{name}: expected a numeric (N, D) array of embeddings, got dtype {a.dtype}; to "
            "evaluate raw skeletons, pass encoder="
        )
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(
            f"{name}: expected embeddings of shape (N, D) with N >= 1, got {a.shape}; to evaluate "
            "raw skeletons, pass encoder="
        )
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return a


def _classes(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted class set of ``train``; ``train``/``test`` as indices into it (``-1``: unseen in train)."""
    classes = np.unique(train)
    y_train = np.searchsorted(classes, train)
    pos = np.clip(np.searchsorted(classes, test), 0, len(classes) - 1)
    y_test = np.where(classes[pos] == test, pos, -1)
    return classes, y_train.astype(np.int64), y_test.astype(np.int64)


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class _Skeletons:
    """Raw skeletons standardised once (valid frames, centring...); makes train and test views on demand."""

    def __init__(self, data: Any, encoder: SLiMEncoder, input_format: str, name: str) -> None:
        from .preprocessing import SequenceSource, standardize

        cfg = encoder.config
        src = SequenceSource(data, input_format, encoder.layout.num_joints, cfg.in_channels, name=name)
        self.seqs: list[np.ndarray] = []
        for s in range(0, len(src), 256):
            for i, seq in enumerate(src.batch(s, min(s + 256, len(src)))):
                self.seqs.append(standardize(seq, cfg, encoder.layout, f"{name}[{s + i}]"))
        self.config = cfg
        self.data = data

    def __len__(self) -> int:
        return len(self.seqs)

    def center_views(self, idx: np.ndarray) -> torch.Tensor:
        """Centre crop ``p = 0.95`` of the valid frames, resampled: ``(B, max_persons, num_frames, V, C)``."""
        from .preprocessing import resample

        cfg = self.config
        out = []
        for i in idx:
            seq = self.seqs[i]
            t = seq.shape[1]
            bias = int((1 - CENTER_CROP) * t / 2)
            view = resample(seq[:, bias : t - bias], cfg.num_frames)
            out.append(self._pad_persons(view))
        return torch.from_numpy(np.stack(out))

    def train_views(self, idx: np.ndarray, generator: torch.Generator, augment: bool) -> torch.Tensor:
        """MAMP's train view: random crop ``p ~ U[0.5, 1]`` (>= 64 frames) resampled, random rotation."""
        if not augment:
            return self.center_views(idx)
        from .transforms import RandomRotation, TemporalCrop

        cfg = self.config
        seqs = [self._pad_persons(self.seqs[i]) for i in idx]
        lengths = [s.shape[1] for s in seqs]
        tmax = max(lengths)
        batch = np.full((len(seqs), cfg.max_persons, tmax) + seqs[0].shape[2:], np.nan, dtype=np.float32)
        for j, s in enumerate(seqs):
            batch[j, :, : s.shape[1]] = s
        crop = TemporalCrop(cfg.num_frames, *TRAIN_CROP, min_frames=MIN_CROP_FRAMES)
        x = crop(torch.from_numpy(batch), lengths=lengths, generator=generator)
        return RandomRotation(ROTATION)(x, generator=generator)

    def _pad_persons(self, seq: np.ndarray) -> np.ndarray:
        m = self.config.max_persons
        if seq.shape[0] >= m:
            return seq[:m]
        pad = np.full((m - seq.shape[0],) + seq.shape[1:], np.nan, dtype=seq.dtype)
        return np.concatenate([seq, pad])


def _encode(encoder: nn.Module, x: torch.Tensor, dev: torch.device) -> torch.Tensor:
    x = x.to(dev, non_blocking=True)
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
        return encoder.encode(x).float()


@torch.no_grad()
def _center_features(
    encoder: SLiMEncoder, sk: _Skeletons, dev: torch.device, batch_size: int
) -> torch.Tensor:
    was = encoder.training
    encoder.eval()
    try:
        feats = [
            _encode(encoder, sk.center_views(np.arange(s, min(s + batch_size, len(sk)))), dev).cpu()
            for s in range(0, len(sk), batch_size)
        ]
    finally:
        encoder.train(was)
    return torch.cat(feats)


def _check_pos_int(v: Any, name: str, minimum: int = 1) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {v!r}")
    return int(v)


def _check_float(v: Any, name: str, lo: float, hi: float = math.inf) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ValueError(f"{name}: expected a number in [{lo}, {hi}], got {v!r}")
    return float(v)


def _lr_at(step: int, total: int, warmup: int, base: float, min_lr: float) -> float:
    """MAE/MAMP ``lr_sched``: linear warm-up, then half-cycle cosine to ``min_lr``, per iteration."""
    if step < warmup:
        return base * step / warmup
    return min_lr + (base - min_lr) * 0.5 * (
        1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))
    )


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """One epoch of shuffled batches, the last partial one dropped as in MAMP (all ``n`` if ``n < batch``)."""
    perm = torch.randperm(n, generator=generator).numpy()
    if n < batch_size:
        return [perm]
    return [perm[s : s + batch_size] for s in range(0, n - batch_size + 1, batch_size)]


@torch.no_grad()
def _accuracy(logits: torch.Tensor, y: np.ndarray) -> tuple[float, float]:
    y_t = torch.as_tensor(y)
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    top1 = (top[:, 0] == y_t).float().mean().item()
    top5 = (top == y_t[:, None]).any(1).float().mean().item()
    return top1, top5


def center_view_embeddings(
    data: Any,
    encoder: SLiMEncoder,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    input_format: str = "auto",
) -> np.ndarray:
    """The features [`knn_accuracy`][slimkit.evaluation.knn_accuracy] computes with ``encoder=``, once.

    Each sequence is encoded on the evaluation's centre view (crop ``p = 0.95`` of the valid frames,
    resampled to ``num_frames``); the pooled features are not normalised. Pass them to ``knn_accuracy`` with
    several ``k`` (or to ``linear_probe``) to embed a set once.

    Args:
        data: Skeletons in any form ``SLiMEncoder.embed`` accepts.
        encoder: The frozen encoder.
        batch_size: Sequences per forward pass.
        device: Torch device (default: CUDA when available).
        input_format: Axis order of array input.

    Returns:
        ``(N, D)`` float32 features.
    """
    dev = _device(device)
    encoder.to(dev)
    return _center_features(encoder, _Skeletons(data, encoder, input_format, "data"), dev, batch_size).numpy()


# ---- kNN ---------------------------------------------------------------------------------------------------
def knn_accuracy(
    train_emb: Any,
    train_labels: Any,
    test_emb: Any,
    test_labels: Any,
    k: int = 1,
    *,
    encoder: SLiMEncoder | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    input_format: str = "auto",
    num_threads: int | None = None,
) -> EvalResult:
    """kNN action-retrieval accuracy (STARS' protocol): test items query a gallery of train items.

    Embeddings are L2-normalised and compared by cosine similarity through an exact FAISS search
    ([`Retriever`][slimkit.retrieval.Retriever], ``index="flat"``). ``k = 1`` takes the nearest neighbour's label; ``k
    > 1``
    takes a uniform vote of the ``k`` nearest, ties going to the lowest label (in sorted order).

    Args:
        train_emb: ``(N, D)`` gallery embeddings, or with ``encoder`` the train skeletons (anything
            [`SLiMEncoder.embed`][slimkit.model.SLiMEncoder.embed] accepts).
        train_labels: ``N`` labels (int or str); ``None`` reads ``train_emb.labels`` (a ``SkeletonDataset``).
        test_emb: ``(Q, D)`` query embeddings, or skeletons with ``encoder``.
        test_labels: ``Q`` labels; ``None`` reads ``test_emb.labels``.
        k: Neighbours that vote.
        encoder: Embed raw skeletons with this encoder first, both sets on the centre view (crop ``p = 0.95``
            of the valid frames, resampled to ``num_frames``).
        batch_size: Sequences per encoder forward pass.
        device: Torch device for the encoder (default: CUDA when available).
        input_format: Axis order of array input (see [`SLiMEncoder.embed`][slimkit.model.SLiMEncoder.embed]).
        num_threads: FAISS threads (see [`Retriever`][slimkit.retrieval.Retriever]).

    Returns:
        An [`EvalResult`][slimkit.evaluation.EvalResult] with the top-1 accuracy of the vote.
    """
    from .retrieval import Retriever

    k = _check_pos_int(k, "k")
    if encoder is not None:
        dev = _device(device)
        encoder.to(dev)
        sk_train = _Skeletons(train_emb, encoder, input_format, "train_emb")
        sk_test = _Skeletons(test_emb, encoder, input_format, "test_emb")
        x_train = _center_features(encoder, sk_train, dev, batch_size).numpy()
        x_test = _center_features(encoder, sk_test, dev, batch_size).numpy()
        views = (
            f"encoder embeddings of the centre view (crop p={CENTER_CROP} of the valid frames, resampled to "
            f"{encoder.config.num_frames} frames)"
        )
    else:
        x_train, x_test = _embeddings(train_emb, "train_emb"), _embeddings(test_emb, "test_emb")
        if x_train.shape[1] != x_test.shape[1]:
            raise ValueError(
                f"test_emb: expected width {x_train.shape[1]} like train_emb, got {x_test.shape[1]}"
            )
        views = "precomputed embeddings"
    classes, y_train, y_test = _classes(
        _labels(train_labels, train_emb, "train_labels", len(x_train)),
        _labels(test_labels, test_emb, "test_labels", len(x_test)),
    )
    r = Retriever(x_train.shape[1], metric="cosine", index="flat", num_threads=num_threads)
    r.add(x_train, labels=y_train.tolist())
    hits = r.search(x_test, k=k)
    if k == 1:
        pred = hits.labels[:, 0]
    else:
        votes = np.zeros((len(x_test), len(classes)), dtype=np.int64)
        valid = hits.labels >= 0
        rows = np.broadcast_to(np.arange(len(x_test))[:, None], hits.labels.shape)
        np.add.at(votes, (rows[valid], hits.labels[valid]), 1)
        pred = votes.argmax(1)  # argmax takes the first maximum: the lowest label wins ties
    acc = float(np.mean(pred == y_test))
    scores = _knn_class_scores(x_train, y_train, x_test, len(classes), hits.labels, pred)
    from .metrics import mean_class_accuracy, top_k_accuracy

    vote = "nearest neighbour's label" if k == 1 else "uniform vote, ties to the lowest label"
    protocol = (
        f"kNN (STARS): k={k}, {vote}; cosine on L2-normalised {views}; exact FAISS search; gallery = "
        f"train ({len(x_train)}), queries = test ({len(x_test)}), {len(classes)} classes"
    )
    return EvalResult(
        acc,
        protocol,
        {
            "k": k,
            "top5": top_k_accuracy(y_test, scores, 5),
            "mean_class_accuracy": mean_class_accuracy(y_test, pred, len(classes)),
            "num_train": len(x_train),
            "num_test": len(x_test),
            "num_classes": len(classes),
        },
        classes=classes,
        predictions=np.asarray(pred, dtype=np.int64),
        targets=y_test,
        scores=scores,
    )


def _knn_class_scores(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    num_classes: int,
    hit_labels: np.ndarray,
    pred: np.ndarray,
    chunk: int = 1024,
) -> np.ndarray:
    """``(Q, C)`` class scores for top-5 of a kNN vote: votes among the k nearest first, then each class's
    best cosine similarity; the voted class ``pred`` always ranks first (so top-1 is the vote)."""
    g = F.normalize(torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32)), dim=1)
    yt = torch.from_numpy(y_train.astype(np.int64))
    out = np.empty((len(x_test), num_classes), dtype=np.float32)
    for s in range(0, len(x_test), chunk):
        q = F.normalize(torch.from_numpy(np.ascontiguousarray(x_test[s : s + chunk], dtype=np.float32)), dim=1)
        sim = q @ g.T
        best = torch.full((len(q), num_classes), -1.0).scatter_reduce(
            1, yt.expand(len(q), -1), sim, reduce="amax", include_self=True
        )
        out[s : s + chunk] = best.numpy() + 1.0  # in [0, 2]
    votes = np.zeros_like(out)
    valid = hit_labels >= 0
    rows = np.broadcast_to(np.arange(len(x_test))[:, None], hit_labels.shape)
    np.add.at(votes, (rows[valid], hit_labels[valid]), 1)
    out += 4.0 * votes  # votes dominate: similarity only orders classes with equal votes
    out[np.arange(len(x_test)), pred] = out.max(1) + 1.0
    return out


# ---- linear probe ------------------------------------------------------------------------------------------
def linear_probe(
    train_emb: Any,
    train_labels: Any,
    test_emb: Any,
    test_labels: Any,
    *,
    encoder: SLiMEncoder | None = None,
    epochs: int = 100,
    batch_size: int = 256,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    warmup_epochs: int = 0,
    augment: bool = True,
    device: str | torch.device | None = None,
    seed: int = 0,
    input_format: str = "auto",
    embed_batch_size: int = 64,
    show_progress_bar: bool | None = None,
) -> EvalResult:
    """Linear evaluation exactly as MAMP: a linear classifier on frozen features.

    The classifier is ``BatchNorm1d(D, affine=False, eps=1e-6)`` followed by ``Linear(D, classes)`` (weights
    ``trunc_normal(std=0.01)``, bias 0), trained with cross-entropy by SGD (momentum 0.9, lr 0.1, weight
    decay 0)
    on shuffled batches of 256 (the last partial batch dropped) for 100 epochs, the learning rate following a
    per-iteration half-cycle cosine from ``lr`` to 0 without warm-up (MAE's ``lr_sched``). Top-1 accuracy is
    measured once, after the last epoch.

    With ``encoder``, the encoder stays frozen in eval mode and every training step encodes a fresh MAMP
    train view of each sample (random crop ``p ~ U[0.5, 1]`` of the valid frames, at least 64, resampled to
    ``num_frames``, then a random rotation ``U[-0.3, 0.3]`` rad per axis); test samples are encoded once on
    the centre view (crop ``p = 0.95``). Features are the encoder's pooled, *unnormalised* embedding, as in
    MAMP. On a CPU this costs ``epochs`` encoder passes over the train set: lower ``epochs`` to try it out.

    Args:
        train_emb: ``(N, D)`` train features, or with ``encoder`` the train skeletons (anything
            [`SLiMEncoder.embed`][slimkit.model.SLiMEncoder.embed] accepts).
        train_labels: ``N`` labels (int or str); ``None`` reads ``train_emb.labels``.
        test_emb: ``(Q, D)`` test features, or skeletons with ``encoder``.
        test_labels: ``Q`` labels; ``None`` reads ``test_emb.labels``.
        encoder: Encoder whose frozen features are probed (see above).
        epochs: Training epochs.
        batch_size: Samples per SGD step.
        lr: Peak learning rate.
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        warmup_epochs: Linear warm-up epochs before the cosine decay.
        augment: With ``encoder``, use MAMP's random train views (``False``: the centre view, encoded once).
        device: Torch device (default: CUDA when available).
        seed: Seed of the classifier's initialisation, the batch order and the augmentations.
        input_format: Axis order of array input (see [`SLiMEncoder.embed`][slimkit.model.SLiMEncoder.embed]).
        embed_batch_size: Sequences per encoder forward pass when encoding test (and unaugmented train) views.
        show_progress_bar: A tqdm bar over the epochs, with the loss; ``None`` shows it on a terminal when an
            encoder is given (then each epoch re-encodes the train set and the probe runs for minutes).

    Returns:
        An [`EvalResult`][slimkit.evaluation.EvalResult]; ``model`` is the trained BN + Linear head (on ``device``,
        eval mode).
    """
    epochs = _check_pos_int(epochs, "epochs")
    batch_size = _check_pos_int(batch_size, "batch_size", 2)
    warmup_epochs = _check_pos_int(warmup_epochs, "warmup_epochs", 0)
    lr = _check_float(lr, "lr", 0.0)
    momentum = _check_float(momentum, "momentum", 0.0, 1.0)
    weight_decay = _check_float(weight_decay, "weight_decay", 0.0)
    dev = _device(device)
    g = torch.Generator().manual_seed(seed)
    sk_train = None
    if encoder is not None:
        encoder.to(dev)
        sk_train = _Skeletons(train_emb, encoder, input_format, "train_emb")
        sk_test = _Skeletons(test_emb, encoder, input_format, "test_emb")
        n_train = len(sk_train)
        x_test = _center_features(encoder, sk_test, dev, embed_batch_size)
        x_train = None if augment else _center_features(encoder, sk_train, dev, embed_batch_size)
        dim = encoder.embed_dim
    else:
        x_train = torch.from_numpy(_embeddings(train_emb, "train_emb"))
        x_test = torch.from_numpy(_embeddings(test_emb, "test_emb"))
        n_train, dim = x_train.shape
        if x_test.shape[1] != dim:
            raise ValueError(f"test_emb: expected width {dim} like train_emb, got {x_test.shape[1]}")
    if n_train < 2:
        raise ValueError(f"train_emb: the probe's BatchNorm needs at least 2 training samples, got {n_train}")
    classes, y_train, y_test = _classes(
        _labels(train_labels, train_emb, "train_labels", n_train),
        _labels(test_labels, test_emb, "test_labels", len(x_test)),
    )
    head = nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=1e-6), nn.Linear(dim, len(classes)))
    with torch.no_grad():
        head[1].weight.copy_(nn.init.trunc_normal_(torch.empty(len(classes), dim), std=0.01, generator=g))
        head[1].bias.zero_()
    head.to(dev)
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    y_t = torch.from_numpy(y_train)
    steps = len(_batches(n_train, batch_size, torch.Generator().manual_seed(0)))
    total, warm = epochs * steps, warmup_epochs * steps
    was_training = encoder.training if encoder is not None else False
    if encoder is not None:
        encoder.eval()
    threads = torch.get_num_threads()
    if encoder is None and dev.type == "cpu":
        # A BN + Linear step on 256 rows is too small to split: extra intra-op threads only add sync cost
        # (20x slower than one thread on a loaded 2-core machine, measured).
        torch.set_num_threads(1)
    try:
        if show_progress_bar is None:
            disable = None if encoder is not None else True
        else:
            disable = not show_progress_bar
        _train_probe(
            head, opt, x_train, y_t, sk_train, encoder, n_train, batch_size, epochs, total, warm, lr, g, dev,
            disable,
        )
    finally:
        torch.set_num_threads(threads)
    if encoder is not None:
        encoder.train(was_training)
    head.eval()
    with torch.no_grad():
        logits = torch.cat([head(x_test[s : s + 4096].to(dev)).cpu() for s in range(0, len(x_test), 4096)])
    top1, top5 = _accuracy(logits, y_test)
    pred = logits.argmax(1).numpy()
    from .metrics import mean_class_accuracy

    if encoder is None:
        views = "precomputed features"
    elif augment:
        views = (
            f"frozen encoder (eval mode), pooled unnormalised features; train views: crop "
            f"p~U{list(TRAIN_CROP)} "
            f"of valid frames (>= {MIN_CROP_FRAMES}) resampled to {encoder.config.num_frames} + rotation "
            f"U[-{ROTATION}, {ROTATION}] rad per axis, fresh each step; test view: centre crop "
            f"p={CENTER_CROP}"
        )
    else:
        views = (
            f"frozen encoder, pooled unnormalised features of the centre view (p={CENTER_CROP}) for "
            "train and test"
        )
    protocol = (
        f"linear probe (MAMP): BatchNorm1d({dim}, affine=False, eps=1e-6) + Linear({dim}, {len(classes)}); "
        f"SGD lr {lr:g} momentum {momentum:g} wd {weight_decay:g}, batch {batch_size} (drop last), "
        f"{epochs} epochs, per-iteration cosine to 0, warm-up {warmup_epochs} epochs; {views}; top-1 "
        f"after the last epoch; train {n_train} / test {len(x_test)}; seed {seed}"
    )
    return EvalResult(
        top1,
        protocol,
        {
            "top5": top5,
            "mean_class_accuracy": mean_class_accuracy(y_test, pred, len(classes)),
            "num_train": n_train,
            "num_test": len(x_test),
            "num_classes": len(classes),
            "epochs": epochs,
            "features": "precomputed" if encoder is None else "encoder",
        },
        model=head,
        classes=classes,
        predictions=np.asarray(pred, dtype=np.int64),
        targets=y_test,
        scores=logits.numpy(),
    )


def _train_probe(
    head: nn.Module,
    opt: torch.optim.Optimizer,
    x_train: torch.Tensor | None,
    y_t: torch.Tensor,
    sk_train: _Skeletons | None,
    encoder: Any,
    n_train: int,
    batch_size: int,
    epochs: int,
    total: int,
    warm: int,
    lr: float,
    g: torch.Generator,
    dev: torch.device,
    disable: bool | None = True,
) -> None:
    from tqdm.auto import tqdm

    step = 0
    bar = tqdm(range(epochs), desc="linear probe", unit="epoch", disable=disable)
    for epoch in bar:
        head.train()
        loss_sum = 0.0
        for idx in _batches(n_train, batch_size, g):
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total, warm, lr, 0.0)
            if x_train is not None:
                feats = x_train[idx].to(dev)
            else:
                with torch.no_grad():
                    feats = _encode(encoder, sk_train.train_views(idx, g, True), dev)
            loss = F.cross_entropy(head(feats), y_t[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            step += 1
        mean_loss = loss_sum / max(1, total // epochs)
        bar.set_postfix(loss=f"{mean_loss:.4f}")
        log.info("linear_probe epoch %d/%d loss %.4f", epoch + 1, epochs, mean_loss)
    bar.close()


# ---- fine-tuning -------------------------------------------------------------------------------------------
class _Classifier(nn.Module):
    """Encoder + head: prepared skeletons ``(N, M, T, V, C)`` -> logits ``(N, classes)``."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.encode(x))


def _layer_decay_groups(model: _Classifier, weight_decay: float, layer_decay: float) -> list[dict[str, Any]]:
    """MAMP's ``param_groups_lrd``: lr scale ``layer_decay ** (L + 1 - layer)``, no decay on 1-D params."""
    num_layers = len(model.encoder.blocks) + 1
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("encoder.blocks."):
            layer = int(name.split(".")[2]) + 1
        elif name.startswith("encoder.") and not name.startswith("encoder.norm"):
            layer = 0  # token embedding, positions, mask token
        else:
            layer = num_layers  # final norm and head
        decay = p.ndim > 1
        g = groups.setdefault(
            (layer, decay),
            {
                "params": [],
                "weight_decay": weight_decay if decay else 0.0,
                "lr_scale": layer_decay ** (num_layers - layer),
            },
        )
        g["params"].append(p)
    return list(groups.values())


def finetune(
    train_emb: Any,
    train_labels: Any,
    test_emb: Any,
    test_labels: Any,
    *,
    encoder: SLiMEncoder | None = None,
    epochs: int = 100,
    batch_size: int = 48,
    lr: float = 5e-4,
    min_lr: float = 1e-6,
    weight_decay: float = 0.05,
    layer_decay: float = 0.8,
    warmup_epochs: int = 5,
    label_smoothing: float = 0.1,
    drop_path: float = 0.3,
    head_dropout: float = 0.3,
    augment: bool = True,
    device: str | torch.device | None = None,
    seed: int = 0,
    input_format: str = "auto",
    embed_batch_size: int = 64,
) -> EvalResult:
    """Full fine-tuning of a copy of the encoder with a linear head, on MAMP's recipe.

    MAMP's recipe (NTU configs): AdamW, lr 5e-4 at an effective batch of 48 (24 per GPU x 2), weight decay
    0.05 (none on 1-D parameters), layer-wise lr decay 0.8, 5 warm-up epochs then per-iteration cosine to
    1e-6, label smoothing 0.1, stochastic depth rising linearly to 0.3 over the blocks, dropout 0.3 before the
    head, 100 epochs, train views = random crop + rotation, test view = centre crop; top-1 after the last
    epoch. One difference: MAMP's head is an MLP over per-joint features (2048 hidden units + BatchNorm); here
    the head is ``Dropout + Linear`` on the pooled embedding, which is what the embedding serves.

    The caller's encoder is not modified: the result's ``model`` holds the fine-tuned copy.

    Args:
        train_emb: Train skeletons (anything [`SLiMEncoder.embed`][slimkit.model.SLiMEncoder.embed] accepts).
            The name matches the other protocols; fine-tuning needs raw skeletons, not embeddings.
        train_labels: ``N`` labels (int or str); ``None`` reads ``train_emb.labels``.
        test_emb: Test skeletons.
        test_labels: ``Q`` labels; ``None`` reads ``test_emb.labels``.
        encoder: The encoder to fine-tune (required).
        epochs: Training epochs.
        batch_size: Samples per step.
        lr: Peak learning rate (before layer decay).
        min_lr: Final learning rate of the cosine schedule.
        weight_decay: AdamW weight decay on matrices.
        layer_decay: Layer-wise lr decay factor (1 disables it).
        warmup_epochs: Linear warm-up epochs.
        label_smoothing: Cross-entropy label smoothing.
        drop_path: Stochastic depth rate of the last block (linear from 0 over the blocks).
        head_dropout: Dropout before the linear head.
        augment: Random MAMP train views (``False``: the centre view).
        device: Torch device (default: CUDA when available).
        seed: Seed of the head's initialisation, the batch order, the augmentations and dropout.
        input_format: Axis order of array input.
        embed_batch_size: Sequences per forward pass when evaluating.

    Returns:
        An [`EvalResult`][slimkit.evaluation.EvalResult]; ``model`` maps prepared skeletons ``(N, M, T, V, C)`` to
        logits.

    Raises:
        ValueError: ``encoder`` is missing (fine-tuning changes the encoder, so embeddings are not enough).
    """
    if encoder is None:
        raise ValueError(
            "encoder: finetune trains the encoder's weights, so it needs encoder= and raw skeletons; "
            "for precomputed embeddings use linear_probe (frozen features)"
        )
    epochs = _check_pos_int(epochs, "epochs")
    batch_size = _check_pos_int(batch_size, "batch_size")
    warmup_epochs = _check_pos_int(warmup_epochs, "warmup_epochs", 0)
    lr, min_lr = _check_float(lr, "lr", 0.0), _check_float(min_lr, "min_lr", 0.0)
    weight_decay = _check_float(weight_decay, "weight_decay", 0.0)
    layer_decay = _check_float(layer_decay, "layer_decay", 0.0, 1.0)
    label_smoothing = _check_float(label_smoothing, "label_smoothing", 0.0, 1.0)
    drop_path = _check_float(drop_path, "drop_path", 0.0, 0.99)
    head_dropout = _check_float(head_dropout, "head_dropout", 0.0, 0.99)
    dev = _device(device)
    g = torch.Generator().manual_seed(seed)
    sk_train = _Skeletons(train_emb, encoder, input_format, "train_emb")
    sk_test = _Skeletons(test_emb, encoder, input_format, "test_emb")
    classes, y_train, y_test = _classes(
        _labels(train_labels, train_emb, "train_labels", len(sk_train)),
        _labels(test_labels, test_emb, "test_labels", len(sk_test)),
    )
    enc = copy.deepcopy(encoder)
    depth = len(enc.blocks)
    for i, blk in enumerate(enc.blocks):
        blk.drop_path = drop_path * i / max(depth - 1, 1)
    head = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(enc.embed_dim, len(classes)))
    with torch.no_grad():
        head[1].weight.copy_(nn.init.xavier_uniform_(torch.empty(len(classes), enc.embed_dim), generator=g))
        head[1].bias.zero_()
    model = _Classifier(enc, head).to(dev)
    groups = _layer_decay_groups(model, weight_decay, layer_decay)
    opt = torch.optim.AdamW(groups, lr=lr)
    y_t = torch.from_numpy(y_train)
    n_train = len(sk_train)
    steps = len(_batches(n_train, batch_size, torch.Generator().manual_seed(0)))
    total, warm = epochs * steps, warmup_epochs * steps
    cpu_rng = torch.get_rng_state()
    torch.manual_seed(seed)  # dropout and drop path draw from the global generator
    step = 0
    try:
        for epoch in range(epochs):
            model.train()
            loss_sum = 0.0
            for idx in _batches(n_train, batch_size, g):
                cur = _lr_at(step, total, warm, lr, min_lr)
                for group in opt.param_groups:
                    group["lr"] = cur * group["lr_scale"]
                x = sk_train.train_views(idx, g, augment).to(dev)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                    logits = model(x).float()
                loss = F.cross_entropy(logits, y_t[idx].to(dev), label_smoothing=label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.item()
                step += 1
            log.info("finetune epoch %d/%d loss %.4f", epoch + 1, epochs, loss_sum / steps)
    finally:
        torch.set_rng_state(cpu_rng)
    model.eval()
    feats = _center_features(enc, sk_test, dev, embed_batch_size)
    with torch.no_grad():
        logits = head(feats.to(dev)).cpu()
    top1, top5 = _accuracy(logits, y_test)
    protocol = (
        f"fine-tuning (MAMP recipe, linear head): AdamW lr {lr:g} (batch {batch_size}, drop last), wd "
        f"{weight_decay:g} (none on 1-D params), layer decay {layer_decay:g}, warm-up {warmup_epochs} epochs "
        f"then per-iteration cosine to {min_lr:g}, label smoothing {label_smoothing:g}, drop path "
        f"{drop_path:g}, head dropout {head_dropout:g}, {epochs} epochs; train views: "
        + (
            f"crop p~U{list(TRAIN_CROP)} (>= {MIN_CROP_FRAMES} frames) + rotation "
            f"U[-{ROTATION}, {ROTATION}] rad"
            if augment
            else f"centre crop p={CENTER_CROP}"
        )
        + f"; test view: centre crop p={CENTER_CROP}; top-1 after the last epoch; train {n_train} / test "
        f"{len(sk_test)}; seed {seed}"
    )
    return EvalResult(
        top1,
        protocol,
        {
            "top5": top5,
            "num_train": n_train,
            "num_test": len(sk_test),
            "num_classes": len(classes),
            "epochs": epochs,
        },
        model=model,
        classes=classes,
    )


# ---- semi-supervised ---------------------------------------------------------------------------------------
def stratified_subset(labels: Any, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a seeded, class-stratified subset: ``max(1, round(fraction * n_c))`` items of each class.

    Args:
        labels: ``N`` labels (int or str).
        fraction: Share of each class to keep, in ``(0, 1]``.
        seed: Seed of the choice.

    Returns:
        Sorted int64 indices into ``labels``.
    """
    fraction = _check_float(fraction, "fraction", 0.0, 1.0)
    if fraction == 0.0:
        raise ValueError("fraction: expected a number in (0, 1], got 0")
    lab = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(lab):
        idx = np.flatnonzero(lab == c)
        n = max(1, int(round(fraction * idx.size)))
        keep.append(rng.choice(idx, size=n, replace=False))
    return np.sort(np.concatenate(keep)).astype(np.int64)


def _subset(data: Any, idx: np.ndarray) -> Any:
    if hasattr(data, "subset") and callable(data.subset):  # SkeletonDataset: shares the storage
        return data.subset(idx)
    if isinstance(data, (np.ndarray, torch.Tensor)):
        return data[idx]
    if isinstance(data, (list, tuple)):
        return [data[i] for i in idx]
    return [data[int(i)] for i in idx]  # a dataset: items are sequences or (sequence, label)


def semi_supervised(
    train_emb: Any,
    train_labels: Any,
    test_emb: Any,
    test_labels: Any,
    fraction: float = 0.01,
    *,
    encoder: SLiMEncoder | None = None,
    seed: int = 0,
    input_format: str = "auto",
    **kwargs: Any,
) -> EvalResult:
    """Semi-supervised evaluation: train on a seeded, class-stratified ``fraction`` of the train labels.

    The subset keeps ``max(1, round(fraction * n_c))`` samples of every class ``c`` (MAMP draws 1 % / 10 %
    uniformly at random; stratifying guarantees every class is seen). With ``encoder``, the encoder is
    fine-tuned on the subset ([`finetune`][slimkit.evaluation.finetune], MAMP's semi-supervised recipe); with
    precomputed embeddings, a
    linear probe is trained on the subset's frozen features ([`linear_probe`][slimkit.evaluation.linear_probe]).

    Args:
        train_emb: ``(N, D)`` train embeddings, or skeletons with ``encoder``.
        train_labels: ``N`` labels; ``None`` reads ``train_emb.labels``.
        test_emb: Test embeddings or skeletons (the whole test set is evaluated).
        test_labels: Test labels; ``None`` reads ``test_emb.labels``.
        fraction: Labelled share, e.g. ``0.01`` or ``0.1``.
        encoder: Fine-tune this encoder on the subset instead of probing embeddings.
        seed: Seed of the subset and of training.
        input_format: Axis order of array input.
        **kwargs: Passed to [`finetune`][slimkit.evaluation.finetune] (with ``encoder``) or
            [`linear_probe`][slimkit.evaluation.linear_probe] (``epochs``,
            ``batch_size``...).

    Returns:
        An [`EvalResult`][slimkit.evaluation.EvalResult] whose protocol names the fraction and the subset size.
    """
    n = len(train_emb)
    labels = _labels(train_labels, train_emb, "train_labels", n)
    idx = stratified_subset(labels, fraction, seed)
    sub = _subset(train_emb, idx)
    if encoder is not None:
        res = finetune(
            sub,
            labels[idx],
            test_emb,
            test_labels,
            encoder=encoder,
            seed=seed,
            input_format=input_format,
            **kwargs,
        )
    else:
        res = linear_probe(sub, labels[idx], test_emb, test_labels, seed=seed, **kwargs)
    n_classes = len(np.unique(labels))
    res.protocol = (
        f"semi-supervised {100 * fraction:g} % of train labels ({idx.size} of {n} samples, "
        f"class-stratified, >= 1 per class of {n_classes}, seed {seed}) -> " + res.protocol
    )
    res.metrics.update(fraction=fraction, num_labelled=int(idx.size))
    return res
