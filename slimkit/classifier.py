"""A classifier to ship: encoder + linear head + class names, saved and loaded like the encoder.

```python
from slimkit import SLiMEncoder, linear_probe, load
from slimkit.classifier import SLiMClassifier
enc = SLiMEncoder.from_pretrained("slimkit/slim-kinect-tiny")
ds = load("nw-ucla/all_sqe")
res = linear_probe(ds.subset("train"), None, ds.subset("test"), None, encoder=enc, epochs=30)
clf = res.to_classifier(enc, class_names=ds.classes, training_data="NW-UCLA views 1+2")
clf.save_pretrained("ucla-classifier")            # config.json + model.safetensors + README.md (the card)
clf = SLiMClassifier.from_pretrained("ucla-classifier")
pred = clf.predict(sequences)                     # pred.names, pred.labels, pred.probabilities
```

What the classifier computes is what the evaluation measured: the same view of each sequence (the centre crop
``p = 0.95`` of its valid frames, resampled to ``num_frames``; see [`slimkit.eval`][slimkit.eval]), the
encoder's pooled, unnormalised embedding, then the head (``BatchNorm1d(affine=False) + Linear`` from
[`linear_probe`][slimkit.eval.linear_probe], ``Linear`` from [`finetune`][slimkit.eval.finetune]), then a
softmax. So ``predict`` on the test set of the evaluation reproduces its accuracy. The evaluation's data, protocol and
accuracy are stored in ``config.json`` and written into the model card.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from huggingface_hub import ModelCard, ModelCardData
from torch import nn

from ._hub_mixin import HubMixin
from ._utils import check_positive_int, default_device
from .config import SLiMConfig
from .eval.inputs import _center_features, _Skeletons
from .model import SLiMEncoder
from .preprocessing import SequenceSource

if TYPE_CHECKING:  # pragma: no cover
    from .eval import EvalResult

__all__ = ["ClassifierConfig", "SLiMClassifier", "Prediction"]

MODEL_TYPE = "slimkit-classifier"


@dataclass
class ClassifierConfig:
    """What a saved [`SLiMClassifier`][slimkit.classifier.SLiMClassifier] is: its encoder's config, classes and head.

    Attributes:
        encoder: The encoder's [`SLiMConfig`][slimkit.config.SLiMConfig].
        classes: Class names, in the order of the head's outputs.
        head_norm: ``True`` when the head starts with ``BatchNorm1d(D, affine=False)`` (the linear probe's).
        evaluation: How the head was trained and measured: ``training_data``, ``protocol``, ``accuracy``,
            ``metrics`` (all optional).
    """

    encoder: SLiMConfig
    classes: list[str]
    head_norm: bool = True
    evaluation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-friendly dict (what ``config.json`` holds)."""
        return {"model_type": MODEL_TYPE, "encoder": self.encoder.to_dict(), "classes": list(self.classes),
                "head_norm": self.head_norm, "evaluation": self.evaluation}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> ClassifierConfig:
        """Build from [`to_dict`][slimkit.classifier.ClassifierConfig.to_dict] output, checking every field.

        Args:
            d: The dict.
            source: Where it came from, for error messages.
        """
        if not isinstance(d, dict):
            raise TypeError(f"{source}: expected a dict, got {type(d).__name__}")
        if d.get("model_type") != MODEL_TYPE:
            raise ValueError(
                f"{source}: not a slimkit classifier (model_type {d.get('model_type')!r}, expected "
                f"{MODEL_TYPE!r}); an encoder folder loads with SLiMEncoder.from_pretrained, and a classifier "
                "is made with EvalResult.to_classifier"
            )
        unknown = sorted(set(d) - {"model_type", "encoder", "classes", "head_norm", "evaluation"})
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}")
        classes = d.get("classes")
        if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
            raise ValueError(f"{source}: classes: expected a non-empty list of str, got {classes!r}")
        if not isinstance(d.get("head_norm", True), bool):
            raise ValueError(f"{source}: head_norm: expected a bool, got {d.get('head_norm')!r}")
        ev = d.get("evaluation") or {}
        if not isinstance(ev, dict):
            raise ValueError(f"{source}: evaluation: expected a dict, got {type(ev).__name__}")
        return cls(SLiMConfig.from_dict(d.get("encoder")), classes, d.get("head_norm", True), ev)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> ClassifierConfig:
        """Read a ``config.json`` written by [`save_pretrained`][slimkit.classifier.SLiMClassifier.save_pretrained].

        Args:
            path: The file.
        """
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(d, str(path))


@dataclass
class Prediction:
    """Predictions for ``N`` sequences.

    Attributes:
        labels: ``(N,)`` int64 index of the predicted class (into ``classes``).
        names: ``N`` predicted class names.
        probabilities: ``(N, K)`` float32 softmax over the ``K`` classes.
        classes: The ``K`` class names.
    """

    labels: np.ndarray
    names: list[str]
    probabilities: np.ndarray
    classes: list[str]

    @property
    def confidence(self) -> np.ndarray:
        """``(N,)`` probability of the predicted class."""
        return self.probabilities[np.arange(len(self.labels)), self.labels]

    def top_k(self, k: int = 5) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable classes of each sequence, as ``(name, probability)``, best first.

        Args:
            k: Classes per sequence (at most ``K``).
        """
        k = min(int(k), self.probabilities.shape[1])
        order = np.argsort(-self.probabilities, axis=1, kind="stable")[:, :k]
        return [[(self.classes[j], float(p[j])) for j in row] for p, row in zip(self.probabilities, order,
                                                                                  strict=True)]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class SLiMClassifier(
    nn.Module,
    HubMixin,
    library_name="slimkit",
    tags=["skeleton", "action-recognition", "slim", "slimkit"],
    license="apache-2.0",
):
    """Encoder + linear head + class names, with ``predict`` and Hugging Face Hub save/load.

    Build one from an evaluation with [`from_result`][slimkit.classifier.SLiMClassifier.from_result] (or
    ``EvalResult.to_classifier``), or load one with
    [`from_pretrained`][slimkit.classifier.SLiMClassifier.from_pretrained].

    Args:
        config: A [`ClassifierConfig`][slimkit.classifier.ClassifierConfig] (or its dict).
    """

    _read_config = staticmethod(ClassifierConfig.from_json_file)

    def __init__(self, config: ClassifierConfig | dict[str, Any]) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = ClassifierConfig.from_dict(config)
        if not isinstance(config, ClassifierConfig):
            raise TypeError(f"config: expected a ClassifierConfig or a dict, got {type(config).__name__}")
        self.config = config
        self.encoder = SLiMEncoder(config.encoder)
        d, k = self.encoder.embed_dim, len(config.classes)
        norm: nn.Module = nn.BatchNorm1d(d, affine=False, eps=1e-6) if config.head_norm else nn.Identity()
        self.head = nn.Sequential(norm, nn.Linear(d, k))
        self.eval()

    @property
    def classes(self) -> list[str]:
        """Class names, in the order of the outputs."""
        return list(self.config.classes)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.config.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of prepared skeletons.

        Args:
            x: ``(N, M, T, V, C)`` prepared skeletons (see ``SLiMEncoder.forward``).

        Returns:
            ``(N, K)`` logits.
        """
        return self.head(self.encoder.encode(x).float())

    # ---- building -------------------------------------------------------------------------------------------
    @classmethod
    def from_result(
        cls,
        result: EvalResult,
        encoder: SLiMEncoder | None = None,
        class_names: Any = None,
        training_data: str | None = None,
        test_data: str | None = None,
    ) -> SLiMClassifier:
        """A classifier from the result of [`linear_probe`][slimkit.eval.linear_probe] or ``finetune``.

        Args:
            result: The evaluation result; its ``model`` is the trained head (linear probe) or encoder + head
                (fine-tuning), its ``classes`` the label of each output.
            encoder: The frozen encoder the linear probe ran on (not needed after fine-tuning, whose result
                holds its own fine-tuned copy).
            class_names: Names of the labels: a list indexed by int label (e.g. ``dataset.classes``), or a
                dict label -> name; default ``str(label)``.
            training_data: Description of the training data, for the card (e.g. ``"NW-UCLA views 1+2"``).
            test_data: Description of the data the accuracy was measured on, for the card.

        Returns:
            The classifier, in eval mode on the CPU.
        """
        model = getattr(result, "model", None)
        if model is None or getattr(result, "classes", None) is None:
            raise ValueError("result: expected the result of linear_probe or finetune (it carries the trained "
                             "head and its classes); kNN results have no head")
        if hasattr(model, "encoder") and hasattr(model, "head"):  # fine-tuning: encoder copy + head
            enc, head, head_norm = model.encoder, model.head, False
            if encoder is not None:
                warnings.warn("encoder: ignored, the fine-tuning result holds its own fine-tuned encoder",
                              stacklevel=2)
        else:
            if encoder is None:
                raise ValueError("encoder: a linear probe's head needs the frozen encoder it was trained on")
            enc, head, head_norm = encoder, model, True
            if result.metrics.get("features") == "precomputed":
                warnings.warn(
                    "result: this probe was trained on precomputed features; the classifier feeds the head "
                    "the encoder's pooled, unnormalised embedding of the centre view, so it is right only if "
                    "those were the features (probe with encoder= to be sure)",
                    stacklevel=2,
                )
        linear = [m for m in head.modules() if isinstance(m, nn.Linear)]
        if linear and linear[-1].in_features != enc.embed_dim:
            raise ValueError(
                f"result: the head reads {linear[-1].in_features} features but the encoder embeds "
                f"{enc.embed_dim}: give the encoder the probe was trained on"
            )
        names = _class_names(result.classes, class_names)
        evaluation = {
            "accuracy": float(result.accuracy),
            "protocol": result.protocol,
            "metrics": {k: v for k, v in result.metrics.items() if _jsonable(v)},
        }
        if training_data:
            evaluation["training_data"] = str(training_data)
        if test_data:
            evaluation["test_data"] = str(test_data)
        config = ClassifierConfig(dataclasses.replace(enc.config), names, head_norm, evaluation)
        clf = cls(config)
        clf.encoder.load_state_dict(enc.state_dict())
        head_state = {k: v for k, v in head.state_dict().items()}
        clf.head.load_state_dict(head_state, strict=True)
        return clf.to("cpu").eval()

    # ---- inference ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_proba(
        self,
        skeletons: Any,
        batch_size: int = 64,
        device: str | torch.device | None = None,
        input_format: str = "auto",
    ) -> np.ndarray:
        """Class probabilities ``(N, K)`` (softmax of the logits).

        Args:
            skeletons: Anything ``SLiMEncoder.embed`` accepts.
            batch_size: Sequences per forward pass.
            device: Torch device (default: CUDA when available).
            input_format: Axis order of array input.

        Returns:
            ``(N, K)`` float32 probabilities, rows summing to 1.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        dev = default_device(device)
        self.to(dev).eval()
        src = SequenceSource(skeletons, input_format, self.encoder.layout.num_joints,
                             self.encoder.config.in_channels)
        out = []
        chunk = 1024  # sequences standardised at a time: bounds memory
        for s in range(0, len(src), chunk):
            part = src.batch(s, min(s + chunk, len(src)))
            sk = _Skeletons(part, self.encoder, "auto", "skeletons")
            feats = _center_features(self.encoder, sk, dev, batch_size)
            logits = self.head(feats.to(dev)).float()
            out.append(torch.softmax(logits, dim=-1).cpu())
        return torch.cat(out).numpy()

    def predict(self, skeletons: Any, **kwargs: Any) -> Prediction:
        """Predicted class and probabilities of each sequence.

        Args:
            skeletons: Anything ``SLiMEncoder.embed`` accepts.
            **kwargs: ``batch_size``, ``device``, ``input_format``, as in
                [`predict_proba`][slimkit.classifier.SLiMClassifier.predict_proba].

        Returns:
            A [`Prediction`][slimkit.classifier.Prediction].
        """
        p = self.predict_proba(skeletons, **kwargs)
        labels = p.argmax(1).astype(np.int64)
        return Prediction(labels, [self.config.classes[i] for i in labels], p, self.classes)

    # ---- Hub (save_pretrained, from_pretrained: slimkit._hub_mixin.HubMixin) ------------------------------
    def generate_model_card(self, **kwargs: Any) -> ModelCard:
        """The model card ``save_pretrained`` writes (``classifier_card``: classes, encoder, data, protocol, accuracy).

        Args:
            **kwargs: Card fields: ``notes`` (str).
        """
        return classifier_card(self, **kwargs)

    def extra_repr(self) -> str:
        return f"classes={self.num_classes}, head_norm={self.config.head_norm}"


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


def _class_names(labels: Any, class_names: Any) -> list[str]:
    labels = list(np.asarray(labels).tolist())
    if class_names is None:
        return [str(v) for v in labels]
    if isinstance(class_names, dict):
        missing = [v for v in labels if v not in class_names]
        if missing:
            raise ValueError(f"class_names: no name for labels {missing[:5]}")
        return [str(class_names[v]) for v in labels]
    names = list(class_names)
    out = []
    for v in labels:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, int) and 0 <= v < len(names):
            out.append(str(names[v]))
        else:
            raise ValueError(f"class_names: label {v!r} has no name in a list of {len(names)} names")
    return out


def classifier_card(clf: SLiMClassifier, **kwargs: Any) -> ModelCard:
    """A model card stating the classes, the encoder, the training data, the protocol and the accuracy."""
    c = clf.config.encoder
    ev = clf.config.evaluation
    acc = ev.get("accuracy")
    acc_text = f"{100 * acc:.2f} %" if isinstance(acc, (int, float)) else "not recorded"
    metrics = ev.get("metrics") or {}
    top5 = metrics.get("top5")
    data = ModelCardData(library_name="slimkit", license="apache-2.0",
                         tags=sorted({"skeleton", "action-recognition", "slimkit", c.layout}))
    classes = ", ".join(f"`{n}`" for n in clf.classes)
    v = clf.encoder.layout.num_joints
    head = ("BatchNorm1d(affine=False) + Linear (linear probe, frozen encoder)" if clf.config.head_norm
            else "Linear (fine-tuned encoder)")
    body = f"""---
{data.to_yaml()}
---

# SLiM skeleton action classifier ({len(clf.classes)} classes, {c.layout})

A [slimkit](https://pypi.org/project/slimkit/) SLiM encoder with a linear head. Input: skeleton sequences
`(T, {v}, {c.in_channels})` (or `(M, T, V, C)`, up to {c.max_persons} person(s)); output: one of
{len(clf.classes)} classes with probabilities.

| field | value |
|---|---|
| classes | {classes} |
| encoder | width {c.dim}, depth {c.depth}, {c.token_groups} tokens, {c.num_frames} frames, layout `{c.layout}` |
| head | {head} |
| view | centre crop p=0.95 of the valid frames, resampled to {c.num_frames} frames |
| training data | {ev.get("training_data", "not recorded")} |
| test data | {ev.get("test_data", "not recorded")} |
| measured top-1 accuracy | {acc_text}{f" (top-5 {100 * top5:.2f} %)" if isinstance(top5, (int, float)) else ""} |

## Protocol

{ev.get("protocol", "not recorded")}

{kwargs.get("notes", "")}

## Use

```python
from slimkit.classifier import SLiMClassifier
clf = SLiMClassifier.from_pretrained("<this repo or folder>")
pred = clf.predict(sequences)      # pred.names, pred.probabilities
```

or `slimkit predict -m <this repo or folder> DATA`.
"""
    return ModelCard(body)
