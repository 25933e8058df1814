"""Evaluation protocols of the skeleton SSL literature, pinned in code and printed with every result.

* [`knn_accuracy`][slimkit.eval.knn_accuracy]: action retrieval as in STARS: test embeddings query a gallery of
  train embeddings (cosine, exact FAISS search), top-1 accuracy of the ``k``-nearest-neighbour vote
  ([`knn_top1`][slimkit.eval.knn_top1] is the Trainer's leave-one-out monitor on the same core).
* [`linear_probe`][slimkit.eval.linear_probe]: MAMP's linear evaluation: frozen features,
  ``BatchNorm1d(D, affine=False, eps=1e-6)`` + ``Linear``, SGD (momentum 0.9, lr 0.1, weight decay 0), batch
  256, 100 epochs, per-iteration cosine schedule without warm-up; with an encoder, train views are random
  crops + rotations, the test view a centre crop.
* [`finetune`][slimkit.eval.finetune]: MAMP's fine-tuning recipe (AdamW, layer-wise lr decay, label smoothing,
  drop path) with a linear head on the pooled embedding.
* [`semi_supervised`][slimkit.eval.semi_supervised]: the same on a seeded, class-stratified 1 % / 10 % label
  subset.

Every function takes either precomputed embeddings ``(N, D)`` (``encoder=None``) or, with ``encoder=``, raw
skeletons in any form [`SLiMEncoder.embed`][slimkit.model.SLiMEncoder.embed] accepts, and returns an
[`EvalResult`][slimkit.eval.EvalResult] whose ``str()`` prints the accuracy beside the protocol that produced
it. Accuracies are fractions in ``[0, 1]``, measured once at the end of training (no selection of the best
epoch on the test set).

Modules: ``inputs`` (label and embedding checks, the evaluation's views of skeletons), ``knn``, ``probe``,
``finetuning``, ``semi``, ``result``.
"""

from __future__ import annotations

from .finetuning import finetune
from .inputs import center_view_embeddings
from .knn import knn_accuracy, knn_top1
from .probe import linear_probe
from .result import EvalResult
from .semi import semi_supervised, stratified_subset

__all__ = [
    "EvalResult",
    "knn_accuracy",
    "knn_top1",
    "linear_probe",
    "finetune",
    "semi_supervised",
    "stratified_subset",
    "center_view_embeddings",
]
