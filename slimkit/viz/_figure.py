"""What every picture of slimkit.viz shares: matplotlib on the Agg backend (imported on first use: the optional
``viz`` extra), a figure of its own, numeric input, label text and atomic saving."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._utils import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def _mpl() -> Any:
    """Import matplotlib with the Agg backend, or fail with the install command."""
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("slimkit.viz needs matplotlib and pillow: pip install 'slimkit[viz]'") from e
    # Only switch when pyplot has not chosen a backend yet: never yank an interactive session's backend.
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    return matplotlib


def _new_figure(figsize: tuple[float, float], dpi: int = 100) -> Figure:
    _mpl()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _as_float(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.dtype == object:
        raise TypeError(f"{name}: expected a numeric array")
    return a



def _label_text(label: Any, class_names: Mapping | Sequence | None) -> str:
    if label is None:
        return ""
    if class_names is not None:
        try:
            return str(class_names[label])
        except (KeyError, IndexError, TypeError):
            pass
    if isinstance(label, (np.integer, np.floating)):
        label = label.item()
    return str(label)



def _save(fig: Figure, path: str | os.PathLike | None, tight: bool = True) -> None:
    """Write ``fig`` to ``path`` (format by its suffix) atomically, cropped to its content when ``tight``."""
    if path is not None:
        with atomic_path(path, suffix=Path(path).suffix) as tmp:
            fig.savefig(tmp, bbox_inches="tight" if tight else None)

