"""Linear evaluation exactly as MAMP: [`linear_probe`][slimkit.eval.linear_probe], a BN + Linear head on frozen
features."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._utils import check_number, check_positive_int, default_device
from ..metrics import mean_class_accuracy
from ._loop import _accuracy, _train_epochs
from .inputs import (
    CENTER_CROP,
    MIN_CROP_FRAMES,
    ROTATION,
    TRAIN_CROP,
    _center_features,
    _embedding_pair,
    _encode,
    _label_indices,
    _skeleton_pair,
)
from .result import EvalResult

if TYPE_CHECKING:  # pragma: no cover
    from ..model import SLiMEncoder

__all__ = ["linear_probe"]


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
    decay 0) on shuffled batches of 256 (the last partial batch dropped) for 100 epochs, the learning rate
    following a per-iteration half-cycle cosine from ``lr`` to 0 without warm-up (MAE's ``lr_sched``). Top-1
    accuracy is measured once, after the last epoch.

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
        An [`EvalResult`][slimkit.eval.EvalResult]; ``model`` is the trained BN + Linear head (on ``device``,
        eval mode).
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size", 2)
    warmup_epochs = check_positive_int(warmup_epochs, "warmup_epochs", 0)
    lr = check_number(lr, "lr", 0.0)
    momentum = check_number(momentum, "momentum", 0.0, 1.0)
    weight_decay = check_number(weight_decay, "weight_decay", 0.0)
    dev = default_device(device)
    g = torch.Generator().manual_seed(seed)
    sk_train = None
    if encoder is not None:
        encoder.to(dev)
        sk_train, sk_test = _skeleton_pair(train_emb, test_emb, encoder, input_format)
        n_train = len(sk_train)
        x_test = _center_features(encoder, sk_test, dev, embed_batch_size)
        x_train = None if augment else _center_features(encoder, sk_train, dev, embed_batch_size)
        dim = encoder.embed_dim
    else:
        x_train, x_test = (torch.from_numpy(a) for a in _embedding_pair(train_emb, test_emb))
        n_train, dim = x_train.shape
    if n_train < 2:
        raise ValueError(f"train_emb: the probe's BatchNorm needs at least 2 training samples, got {n_train}")
    classes, y_train, y_test = _label_indices(train_labels, train_emb, n_train, test_labels, test_emb,
                                              len(x_test))
    head = nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=1e-6), nn.Linear(dim, len(classes)))
    with torch.no_grad():
        head[1].weight.copy_(nn.init.trunc_normal_(torch.empty(len(classes), dim), std=0.01, generator=g))
        head[1].bias.zero_()
    head.to(dev)
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    y_t = torch.from_numpy(y_train)

    def batch_loss(idx: np.ndarray) -> torch.Tensor:
        if x_train is not None:
            feats = x_train[idx].to(dev)
        else:
            with torch.no_grad():
                feats = _encode(encoder, sk_train.train_views(idx, g, True), dev)
        return F.cross_entropy(head(feats), y_t[idx].to(dev))

    was_training = encoder.training if encoder is not None else False
    if encoder is not None:
        encoder.eval()
    threads = torch.get_num_threads()
    if encoder is None and dev.type == "cpu":
        # A BN + Linear step on 256 rows is too small to split: extra intra-op threads only add sync cost
        # (20x slower than one thread on a loaded 2-core machine, measured).
        torch.set_num_threads(1)
    if show_progress_bar is None:
        disable = None if encoder is not None else True
    else:
        disable = not show_progress_bar
    try:
        _train_epochs(head, opt, batch_loss, n_train, batch_size, epochs, warmup_epochs, lr, 0.0, g,
                      "linear_probe", disable)
    finally:
        torch.set_num_threads(threads)
    if encoder is not None:
        encoder.train(was_training)
    head.eval()
    with torch.no_grad():
        logits = torch.cat([head(x_test[s : s + 4096].to(dev)).cpu() for s in range(0, len(x_test), 4096)])
    top1, top5 = _accuracy(logits, y_test)
    pred = logits.argmax(1).numpy()
    protocol = (
        f"linear probe (MAMP): BatchNorm1d({dim}, affine=False, eps=1e-6) + Linear({dim}, {len(classes)}); "
        f"SGD lr {lr:g} momentum {momentum:g} wd {weight_decay:g}, batch {batch_size} (drop last), "
        f"{epochs} epochs, per-iteration cosine to 0, warm-up {warmup_epochs} epochs; "
        f"{_views(encoder, augment)}; top-1 after the last epoch; train {n_train} / test {len(x_test)}; "
        f"seed {seed}"
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


def _views(encoder: SLiMEncoder | None, augment: bool) -> str:
    """The features' part of the probe's protocol string."""
    if encoder is None:
        return "precomputed features"
    if augment:
        return (
            f"frozen encoder (eval mode), pooled unnormalised features; train views: crop "
            f"p~U{list(TRAIN_CROP)} "
            f"of valid frames (>= {MIN_CROP_FRAMES}) resampled to {encoder.config.num_frames} + rotation "
            f"U[-{ROTATION}, {ROTATION}] rad per axis, fresh each step; test view: centre crop "
            f"p={CENTER_CROP}"
        )
    return (
        f"frozen encoder, pooled unnormalised features of the centre view (p={CENTER_CROP}) for "
        "train and test"
    )
