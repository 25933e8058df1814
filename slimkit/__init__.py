"""slimkit: skeleton action embeddings and decoder-free self-supervised pretraining (SLiM).

```python
from slimkit import SLiMEncoder
enc = SLiMEncoder.from_pretrained("slimkit/slim-kinect-tiny")   # shipped; see slimkit.list_pretrained()
z = enc.embed(skeletons)          # (N, D), L2-normalised
```

Heavy or optional parts (the trainer, faiss retrieval, evaluation, plots) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .config import SLiMConfig
from .layouts import Layout, get_layout, list_layouts, register_layout
from .model import SLiMEncoder

# public name -> module that defines it, imported lazily (faiss, matplotlib stay out of `import slimkit`)
_LAZY = {
    "Trainer": "train",
    "Retriever": "retrieval",
    "knn_accuracy": "eval",
    "linear_probe": "eval",
    "SkeletonDataset": "data",
    "load": "data",
    "load_dataset": "data",
    "MomentIndex": "moments",
    "SLiMClassifier": "classifier",
    "list_pretrained": "registry",
}
_SUBMODULES = {"layouts", "preprocessing", "model", "hub", "config", "transforms", "losses", "train", "trainer",
               "retrieval", "evaluation", "eval", "data", "viz", "cli", "windows", "moments", "export",
               "classifier", "registry", "metrics", "checks"}

__all__ = [
    "__version__",
    "SLiMConfig",
    "SLiMEncoder",
    "Layout",
    "get_layout",
    "list_layouts",
    "register_layout",
    *_LAZY,
]

if TYPE_CHECKING:  # pragma: no cover
    from .classifier import SLiMClassifier as SLiMClassifier
    from .data import SkeletonDataset as SkeletonDataset
    from .data import load as load
    from .data import load_dataset as load_dataset
    from .eval import knn_accuracy as knn_accuracy
    from .eval import linear_probe as linear_probe
    from .moments import MomentIndex as MomentIndex
    from .registry import list_pretrained as list_pretrained
    from .retrieval import Retriever as Retriever
    from .train import Trainer as Trainer


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'slimkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
