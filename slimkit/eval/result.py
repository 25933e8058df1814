"""[`EvalResult`][slimkit.eval.EvalResult]: an accuracy together with the protocol that produced it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from ..model import SLiMEncoder

__all__ = ["EvalResult"]


@dataclass
class EvalResult:
    """Accuracy of one evaluation, with the protocol that produced it.

    Attributes:
        accuracy: Top-1 accuracy, a fraction in ``[0, 1]``.
        protocol: Human-readable description of the protocol (split sizes, views, recipe, seed).
        metrics: Further figures (``top5`` where defined, ``num_train``, ``num_test``, ``num_classes``...).
        model: The trained classifier (``None`` for kNN): for [`linear_probe`][slimkit.eval.linear_probe], the
            BN + Linear head on features; for [`finetune`][slimkit.eval.finetune], a module mapping prepared
            skeletons ``(N, M, T, V, C)`` to logits.
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
        # slimkit.classifier sits above eval (it predicts with eval's views): importing it at the top would
        # make a cycle, so it is imported when a result is turned into a classifier.
        from ..classifier import SLiMClassifier

        return SLiMClassifier.from_result(self, encoder, class_names, training_data, test_data)
