"""kNN evaluation: [`knn_accuracy`][slimkit.eval.knn_accuracy] (STARS' protocol, a gallery of train items queried
by test items) and [`knn_top1`][slimkit.eval.knn_top1] (the Trainer's leave-one-out monitor).

Both rest on one core, [`cosine_blocks`][slimkit.eval.knn.cosine_blocks]: the cosine similarities of
L2-normalised queries against a gallery, a block of query rows at a time so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from .._utils import check_positive_int, default_device
from ..metrics import mean_class_accuracy, top_k_accuracy
from ..retrieval import Retriever
from .inputs import CENTER_CROP, _center_features, _embedding_pair, _label_indices, _skeleton_pair
from .result import EvalResult

if TYPE_CHECKING:  # pragma: no cover
    from ..model import SLiMEncoder

__all__ = ["knn_accuracy", "knn_top1", "cosine_blocks"]


def cosine_blocks(queries: torch.Tensor, gallery: torch.Tensor | None = None,
                  chunk: int = 1024) -> Iterator[tuple[int, torch.Tensor]]:
    """Cosine similarities of ``queries (Q, D)`` against ``gallery (N, D)``, ``chunk`` query rows at a time.

    Args:
        queries: ``(Q, D)`` embeddings (L2-normalised here, in float32).
        gallery: ``(N, D)`` embeddings; ``None``: the queries themselves (leave-one-out).
        chunk: Query rows per block (bounds memory to ``chunk x N``).

    Yields:
        ``(start, sim)``: the first query row of the block and its ``(rows, N)`` similarities.
    """
    q = F.normalize(queries.float(), dim=-1)
    g = q if gallery is None else F.normalize(gallery.float(), dim=-1)
    for s in range(0, q.shape[0], chunk):
        yield s, q[s : s + chunk] @ g.T


def knn_top1(embeddings: torch.Tensor, labels: np.ndarray | torch.Tensor, chunk: int = 1024) -> float:
    """Leave-one-out cosine 1-NN accuracy of L2-normalised ``embeddings (N, D)`` with ``labels (N,)``.

    Args:
        embeddings: ``(N, D)`` embeddings (normalised inside).
        labels: ``(N,)`` integer labels.
        chunk: Rows per similarity block (bounds memory).

    Returns:
        Top-1 accuracy in ``[0, 1]``.
    """
    y = torch.as_tensor(np.asarray(labels), device=embeddings.device)
    if embeddings.shape[0] < 2 or y.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"labels: expected {embeddings.shape[0]} labels for at least 2 embeddings, got {y.shape[0]}"
        )
    hits = 0
    for s, sim in cosine_blocks(embeddings, None, chunk):
        rows = torch.arange(sim.shape[0], device=sim.device)
        sim[rows, rows + s] = -float("inf")
        hits += int((y[sim.argmax(1)] == y[s : s + chunk]).sum())
    return hits / embeddings.shape[0]


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
    ([`Retriever`][slimkit.retrieval.Retriever], ``index="flat"``). ``k = 1`` takes the nearest neighbour's
    label; ``k > 1`` takes a uniform vote of the ``k`` nearest, ties going to the lowest label (in sorted order).

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
        An [`EvalResult`][slimkit.eval.EvalResult] with the top-1 accuracy of the vote.
    """
    k = check_positive_int(k, "k")
    if encoder is not None:
        dev = default_device(device)
        encoder.to(dev)
        sk_train, sk_test = _skeleton_pair(train_emb, test_emb, encoder, input_format)
        x_train = _center_features(encoder, sk_train, dev, batch_size).numpy()
        x_test = _center_features(encoder, sk_test, dev, batch_size).numpy()
        views = (
            f"encoder embeddings of the centre view (crop p={CENTER_CROP} of the valid frames, resampled to "
            f"{encoder.config.num_frames} frames)"
        )
    else:
        x_train, x_test = _embedding_pair(train_emb, test_emb)
        views = "precomputed embeddings"
    classes, y_train, y_test = _label_indices(train_labels, train_emb, len(x_train), test_labels, test_emb,
                                              len(x_test))
    r = Retriever(x_train.shape[1], metric="cosine", index="flat", num_threads=num_threads)
    r.add(x_train, labels=y_train.tolist())
    hits = r.search(x_test, k=k)
    votes = _votes(hits.labels, len(classes))
    # k = 1: the nearest neighbour's label; else argmax takes the first maximum: the lowest label wins ties
    pred = hits.labels[:, 0] if k == 1 else votes.argmax(1)
    acc = float(np.mean(pred == y_test))
    scores = _knn_class_scores(x_train, y_train, x_test, len(classes), votes, pred)
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


def _votes(hit_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``(Q, C)`` int64 count of each class among the hits of each query (empty slots, ``-1``, left out)."""
    votes = np.zeros((len(hit_labels), num_classes), dtype=np.int64)
    valid = hit_labels >= 0
    rows = np.broadcast_to(np.arange(len(hit_labels))[:, None], hit_labels.shape)
    np.add.at(votes, (rows[valid], hit_labels[valid]), 1)
    return votes


def _knn_class_scores(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    num_classes: int,
    votes: np.ndarray,
    pred: np.ndarray,
    chunk: int = 1024,
) -> np.ndarray:
    """``(Q, C)`` class scores for top-5 of a kNN vote: votes among the k nearest first, then each class's
    best cosine similarity; the voted class ``pred`` always ranks first (so top-1 is the vote)."""
    yt = torch.from_numpy(y_train.astype(np.int64))
    out = np.empty((len(x_test), num_classes), dtype=np.float32)
    blocks = cosine_blocks(torch.from_numpy(np.ascontiguousarray(x_test, dtype=np.float32)),
                           torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32)), chunk)
    for s, sim in blocks:
        best = torch.full((len(sim), num_classes), -1.0).scatter_reduce(
            1, yt.expand(len(sim), -1), sim, reduce="amax", include_self=True
        )
        out[s : s + chunk] = best.numpy() + 1.0  # in [0, 2]
    out += 4.0 * votes  # votes dominate: similarity only orders classes with equal votes
    out[np.arange(len(x_test)), pred] = out.max(1) + 1.0
    return out
