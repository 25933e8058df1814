"""Charts: embeddings on their first two principal components, confusion matrices and the curves of a
pretraining run."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._figure import _as_float, _label_text, _new_figure, _save

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _finish(fig: Figure, ax: Axes, title: str | None, path: str | os.PathLike | None) -> Figure:
    """Title ``ax``, lay ``fig`` out tight and save it to ``path`` when one is given."""
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)
    return fig


def plot_embedding_map(
    embeddings: Any,
    labels: Sequence[Any] | np.ndarray | None = None,
    *,
    path: str | os.PathLike | None = None,
    class_names: Mapping | Sequence | None = None,
    title: str | None = None,
    point_size: float = 14.0,
) -> Figure:
    """Scatter embeddings on their first two principal components, coloured by label.

    The projection is PCA computed with numpy's SVD of the centred embeddings; the axis labels give the share
    of variance each component explains.

    Args:
        embeddings: ``(N, D)`` array (e.g. from [`SLiMEncoder.embed`][slimkit.model.SLiMEncoder.embed]).
        labels: ``N`` labels; one colour and legend entry per distinct label. ``None`` draws one colour.
        path: Write the figure there when given.
        class_names: Maps a label to a readable legend name (a dict, or a list indexed by label).
        title: Figure title.
        point_size: Marker area.

    Returns:
        The matplotlib figure.
    """
    z = _as_float(embeddings, "embeddings")
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"embeddings: expected shape (N, D) with N >= 2, got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("embeddings: contains NaN or inf")
    lab = None if labels is None else np.asarray(labels)
    if lab is not None and lab.shape[0] != z.shape[0]:
        raise ValueError(f"labels: expected {z.shape[0]} labels, got {lab.shape[0]}")
    zc = z - z.mean(0)
    _, s, vt = np.linalg.svd(zc, full_matrices=False)
    k = min(2, vt.shape[0])
    xy = zc @ vt[:k].T
    if k == 1:
        xy = np.concatenate([xy, np.zeros_like(xy)], axis=1)
    var = s**2 / max((s**2).sum(), 1e-12)
    fig = _new_figure((6.4, 5.2), dpi=110)
    ax = fig.add_subplot()
    import matplotlib

    if lab is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=point_size, alpha=0.8, edgecolors="none")
    else:
        classes = list(dict.fromkeys(lab.tolist()))
        try:
            classes = sorted(classes)
        except TypeError:
            pass
        cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for i, c in enumerate(classes):
            sel = lab == c
            ax.scatter(
                xy[sel, 0],
                xy[sel, 1],
                s=point_size,
                alpha=0.8,
                edgecolors="none",
                color=cmap(i % cmap.N),
                label=_label_text(c, class_names),
            )
        ax.legend(fontsize=8, markerscale=1.5, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_xlabel(f"PC 1 ({100 * var[0]:.0f} % of variance)")
    ax.set_ylabel(f"PC 2 ({100 * var[1]:.0f} % of variance)" if len(var) > 1 else "PC 2")
    return _finish(fig, ax, title, path)


def plot_confusion_matrix(
    matrix: Any,
    labels: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
    normalize: bool = True,
    title: str | None = None,
) -> Figure:
    """Draw a confusion matrix (row = true class, column = predicted class) as a heat map.

    Args:
        matrix: ``(C, C)`` counts, e.g. ``classification_report(result)["confusion_matrix"]``.
        labels: ``C`` class names; default ``0 .. C-1``.
        path: Save the figure there (PNG, SVG, PDF by the suffix), written atomically.
        normalize: Colour each row by its fraction of the true class (the cell text stays the count).
        title: Figure title.

    Returns:
        The matplotlib `Figure`.
    """
    cm = np.asarray(matrix, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"matrix: expected a square (C, C) array, got shape {cm.shape}")
    c = cm.shape[0]
    names = [str(v) for v in (labels if labels is not None else range(c))]
    if len(names) != c:
        raise ValueError(f"labels: expected {c} names, got {len(names)}")
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    size = max(4.0, 0.45 * c + 2.0)
    fig = _new_figure((size + 1.0, size))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class" if normalize else "count")
    ax.set_xticks(range(c), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(c), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if c <= 30:
        for i in range(c):
            for j in range(c):
                if cm[i, j]:
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if shown[i, j] > 0.5 * (shown.max() or 1) else "black")
    return _finish(fig, ax, title, path)


def plot_metrics(
    run_dir: str | os.PathLike,
    path: str | os.PathLike | None = None,
    keys: Sequence[str] | None = None,
) -> Figure:
    """Draw the curves of a pretraining run from its ``metrics.jsonl`` (loss terms, learning rate, kNN monitor).

    Args:
        run_dir: The trainer's ``output_dir`` (or the ``metrics.jsonl`` file itself).
        path: Save the figure there (PNG by default suffix), written atomically.
        keys: Metrics to draw, one panel each; default every numeric one recorded except ``epoch``,
            ``momentum`` and ``samples_per_s``.

    Returns:
        The matplotlib `Figure`.
    """
    src = Path(run_dir)
    file = src / "metrics.jsonl" if src.is_dir() else src
    if not file.is_file():
        raise FileNotFoundError(f"run_dir: {file}: no such file (a run's output_dir holds metrics.jsonl)")
    records = []
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    series: dict[str, tuple[list[float], list[float]]] = {}
    for r in records:
        for k, v in r.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and "step" in r:
                series.setdefault(k, ([], []))
                series[k][0].append(r["step"])
                series[k][1].append(float(v))
    skip = {"epoch", "momentum", "samples_per_s"}
    names = list(keys) if keys is not None else [k for k in series if k not in skip]
    unknown = [k for k in names if k not in series]
    if unknown:
        raise ValueError(f"keys: {unknown} not recorded in {file}; recorded: {sorted(series)}")
    if not names:
        raise ValueError(f"run_dir: {file} holds no metrics records yet")
    order = [k for k in ("loss", "mfm", "glcl", "knn_top1", "lr") if k in names] + [
        k for k in names if k not in ("loss", "mfm", "glcl", "knn_top1", "lr")
    ]
    cols = min(3, len(order))
    rows = -(-len(order) // cols)
    fig = _new_figure((4.0 * cols, 2.8 * rows))
    for i, k in enumerate(order):
        ax = fig.add_subplot(rows, cols, i + 1)
        x, y = series[k]
        y_arr = np.asarray(y) * (100 if k == "knn_top1" else 1)
        ax.plot(x, y_arr, marker="o" if len(x) < 30 else None, ms=3)
        ax.set_title("kNN monitor top-1 (%)" if k == "knn_top1" else k, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(str(file.parent.name or file), fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return fig
