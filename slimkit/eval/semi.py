"""Semi-supervised evaluation: [`semi_supervised`][slimkit.eval.semi_supervised] trains on a seeded,
class-stratified share of the train labels ([`stratified_subset`][slimkit.eval.stratified_subset])."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._utils import check_number
from .finetuning import finetune
from .inputs import _labels
from .probe import linear_probe
from .result import EvalResult

if TYPE_CHECKING:  # pragma: no cover
    from ..model import SLiMEncoder

__all__ = ["stratified_subset", "semi_supervised"]


def stratified_subset(labels: Any, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a seeded, class-stratified subset: ``max(1, round(fraction * n_c))`` items of each class.

    Args:
        labels: ``N`` labels (int or str).
        fraction: Share of each class to keep, in ``(0, 1]``.
        seed: Seed of the choice.

    Returns:
        Sorted int64 indices into ``labels``.
    """
    fraction = check_number(fraction, "fraction", 0.0, 1.0)
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
    fine-tuned on the subset ([`finetune`][slimkit.eval.finetune], MAMP's semi-supervised recipe); with
    precomputed embeddings, a linear probe is trained on the subset's frozen features
    ([`linear_probe`][slimkit.eval.linear_probe]).

    Args:
        train_emb: ``(N, D)`` train embeddings, or skeletons with ``encoder``.
        train_labels: ``N`` labels; ``None`` reads ``train_emb.labels``.
        test_emb: Test embeddings or skeletons (the whole test set is evaluated).
        test_labels: Test labels; ``None`` reads ``test_emb.labels``.
        fraction: Labelled share, e.g. ``0.01`` or ``0.1``.
        encoder: Fine-tune this encoder on the subset instead of probing embeddings.
        seed: Seed of the subset and of training.
        input_format: Axis order of array input.
        **kwargs: Passed to [`finetune`][slimkit.eval.finetune] (with ``encoder``) or
            [`linear_probe`][slimkit.eval.linear_probe] (``epochs``, ``batch_size``...).

    Returns:
        An [`EvalResult`][slimkit.eval.EvalResult] whose protocol names the fraction and the subset size.
    """
    n = len(train_emb)
    labels = _labels(train_labels, train_emb, "train_labels", n)
    idx = stratified_subset(labels, fraction, seed)
    sub = _subset(train_emb, idx)
    if encoder is not None:
        res = finetune(sub, labels[idx], test_emb, test_labels, encoder=encoder, seed=seed,
                       input_format=input_format, **kwargs)
    else:
        res = linear_probe(sub, labels[idx], test_emb, test_labels, seed=seed, **kwargs)
    n_classes = len(np.unique(labels))
    res.protocol = (
        f"semi-supervised {100 * fraction:g} % of train labels ({idx.size} of {n} samples, "
        f"class-stratified, >= 1 per class of {n_classes}, seed {seed}) -> " + res.protocol
    )
    res.metrics.update(fraction=fraction, num_labelled=int(idx.size))
    return res
