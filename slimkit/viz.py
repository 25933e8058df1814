"""Pictures of skeletons, retrieval results and embedding spaces (needs ``pip install 'slimkit[viz]'``).

Every function draws with matplotlib's Agg renderer on a matplotlib `Figure` of its own (no
pyplot state, no window), so it works the same in scripts, tests, servers and notebooks; pass ``ax`` to draw
into a figure you manage yourself.

Conventions:

* a frame is ``(V, C)``; a sequence ``(T, V, C)`` or ``(M, T, V, C)`` (persons);
* missing joints (``NaN`` or exactly all-zero, as everywhere in slimkit) are not drawn, and neither is any
  bone that touches one;
* 2-D data (``C == 2``, or ``(x, y, score)`` with ``C == 3`` when you say ``y_down=True``) are pixel
  coordinates with y pointing down; 3-D data use the Kinect / NTU camera frame, y up, and are drawn from
  the front (x, y) unless you ask for a 3-D axes;
* bones of the person's left side are blue, of the right side red, the rest grey.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._arrays import mark_missing
from ._utils import atomic_path
from .layouts import Layout, get_layout

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_skeleton",
    "animate",
    "plot_retrieval_grid",
    "plot_embedding_map",
    "plot_confusion_matrix",
    "plot_metrics",
]

LEFT_COLOR = "#1f77b4"
RIGHT_COLOR = "#d62728"
CENTER_COLOR = "#555555"
_MATCH_COLOR = "#2ca02c"
_MISMATCH_COLOR = "#d62728"


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


def _as_sequence(x: Any, layout: Layout, name: str) -> np.ndarray:
    """``(T, V, C)`` or ``(M, T, V, C)`` -> ``(M, T, V, C)`` float64 with NaN for missing joints."""
    a = _as_float(x, name)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[2] != layout.num_joints or a.shape[3] not in (2, 3):
        raise ValueError(
            f"{name}: expected (T, {layout.num_joints}, C) or (M, T, {layout.num_joints}, C) "
            "with C in (2, 3) "
            f"for layout {layout.name!r}, got shape {a.shape}"
        )
    return mark_missing(a.copy())


def _bone_colors(layout: Layout) -> list[str]:
    out = []
    for child, _ in layout.bones:
        joint = layout.joints[child]
        out.append(
            LEFT_COLOR if joint.startswith("l_") else RIGHT_COLOR if joint.startswith("r_") else CENTER_COLOR
        )
    return out


def _segments(frame: np.ndarray, layout: Layout) -> tuple[list[np.ndarray], list[str]]:
    """Line segments of the bones whose two joints are both present, and their colours."""
    segs, colors = [], []
    for (child, parent), color in zip(layout.bones, _bone_colors(layout), strict=True):
        a, b = frame[child], frame[parent]
        if np.isfinite(a).all() and np.isfinite(b).all():
            segs.append(np.stack([a, b]))
            colors.append(color)
    return segs, colors


def _is_3d(ax: Any) -> bool:
    return getattr(ax, "name", "") == "3d"


def _default_y_down(channels: int, y_down: bool | None) -> bool:
    return channels == 2 if y_down is None else y_down


def plot_skeleton(
    frame: Any,
    layout: str | Layout,
    ax: Axes | None = None,
    *,
    y_down: bool | None = None,
    view: str = "auto",
    color: str | None = None,
    linewidth: float = 2.0,
    joint_size: float = 12.0,
    alpha: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
) -> Axes:
    """Draw one skeleton frame: its bones from the layout's parent tree, and its joints.

    Args:
        frame: ``(V, C)`` joints of one person, ``C`` 2 (x, y) or 3 (x, y, z). ``NaN`` or all-zero joints are
            missing: neither they nor their bones are drawn.
        layout: Layout name or [`Layout`][slimkit.layouts.Layout] that gives the bones.
        ax: Axes to draw into; a new figure is made when ``None`` (``ax.figure.savefig(...)`` saves it).
        y_down: Whether y grows downwards (image pixels). Default: ``True`` for 2-D, ``False`` for 3-D data.
        view: For 3-D data: ``"3d"`` (a 3-D axes, y up), ``"xy"`` (front), ``"zy"`` (side). ``"auto"`` is
            ``"3d"`` when ``ax`` is a 3-D axes or when a new figure is made, else ``"xy"``.
        color: One colour for every bone; default left blue, right red, centre grey.
        linewidth: Bone line width in points.
        joint_size: Joint marker area; 0 draws no joints.
        alpha: Opacity.
        offset: ``(dx, dy)`` added to the projected 2-D coordinates (used to lay frames side by side).

    Returns:
        The axes drawn into.
    """
    lay = get_layout(layout)
    f = _as_float(frame, "frame")
    if f.ndim != 2 or f.shape[0] != lay.num_joints or f.shape[1] not in (2, 3):
        raise ValueError(
            f"frame: expected shape ({lay.num_joints}, 2) or ({lay.num_joints}, 3) for layout {lay.name!r}, "
            f"got {f.shape}"
        )
    f = mark_missing(f.copy())
    if view not in ("auto", "3d", "xy", "zy"):
        raise ValueError(f"view: expected 'auto', '3d', 'xy' or 'zy', got {view!r}")
    if view == "auto":
        view = "3d" if f.shape[1] == 3 and (ax is None or _is_3d(ax)) else "xy"
    if view in ("3d", "zy") and f.shape[1] != 3:
        raise ValueError(f"view={view!r} needs 3-D joints, got {f.shape[1]} channels")
    if ax is None:
        fig = _new_figure((4, 4))
        ax = fig.add_subplot(projection="3d" if view == "3d" else None)
        if view != "3d":
            ax.set_aspect("equal", adjustable="datalim")
            if _default_y_down(f.shape[1], y_down):
                ax.invert_yaxis()
    elif view == "3d" and not _is_3d(ax):
        raise ValueError("view='3d' needs a 3-D axes (fig.add_subplot(projection='3d'))")

    if view == "3d":
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        # matplotlib's vertical axis is z; skeleton data have y up, so draw (x, z, y).
        p = f[:, [0, 2, 1]]
        if _default_y_down(3, y_down):
            p[:, 2] = -p[:, 2]
        segs, colors = _segments(p, lay)
        ax.add_collection3d(Line3DCollection(segs, colors=color or colors, linewidths=linewidth, alpha=alpha))
        ok = np.isfinite(p).all(1)
        if joint_size and ok.any():
            ax.scatter(
                p[ok, 0], p[ok, 1], p[ok, 2], s=joint_size, c=color or "black", alpha=alpha, depthshade=False
            )
        if ok.any():
            lo, hi = p[ok].min(0), p[ok].max(0)
            mid, half = (lo + hi) / 2, max((hi - lo).max() / 2, 1e-6)
            ax.set_xlim(mid[0] - half, mid[0] + half)
            ax.set_ylim(mid[1] - half, mid[1] + half)
            ax.set_zlim(mid[2] - half, mid[2] + half)
            ax.set_box_aspect((1, 1, 1))
        return ax

    from matplotlib.collections import LineCollection

    p = f[:, [0, 1]] if view == "xy" else f[:, [2, 1]]
    p = p + np.asarray(offset, dtype=np.float64)
    segs, colors = _segments(p, lay)
    ax.add_collection(
        LineCollection(segs, colors=color or colors, linewidths=linewidth, alpha=alpha, capstyle="round")
    )
    ok = np.isfinite(p).all(1)
    if joint_size and ok.any():
        ax.scatter(
            p[ok, 0], p[ok, 1], s=joint_size, c=color or "black", alpha=alpha, zorder=3, edgecolors="none"
        )
    ax.autoscale_view()
    return ax


def _limits(points: np.ndarray, pad: float = 0.08) -> tuple[tuple[float, float], tuple[float, float]]:
    """Square-ish limits around the finite points ``(..., 2)``."""
    p = points.reshape(-1, 2)
    p = p[np.isfinite(p).all(1)]
    if len(p) == 0:
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = p.min(0), p.max(0)
    mid, half = (lo + hi) / 2, max((hi - lo).max() / 2, 1e-6) * (1 + pad)
    return (mid[0] - half, mid[0] + half), (mid[1] - half, mid[1] + half)


def animate(
    sequence: Any,
    layout: str | Layout,
    path: str | os.PathLike,
    *,
    fps: int = 15,
    y_down: bool | None = None,
    title: str | None = None,
    size: float = 3.0,
    dpi: int = 80,
) -> Path:
    """Write an animated GIF of a skeleton sequence, one GIF frame per sequence frame.

    3-D sequences are drawn from the front (x, y); every person of an ``(M, T, V, C)`` sequence is drawn.
    The axes limits are fixed over the whole sequence, so movement across the scene stays visible.

    Args:
        sequence: ``(T, V, C)`` or ``(M, T, V, C)`` joints; missing joints are ``NaN`` or all-zero.
        layout: Layout name or [`Layout`][slimkit.layouts.Layout].
        path: Output ``.gif`` file (parent folders are created), written atomically.
        fps: Frames per second of the GIF.
        y_down: Whether y grows downwards; default ``True`` for 2-D, ``False`` for 3-D data.
        title: Text above the skeleton; the frame number is appended.
        size: Figure width and height in inches.
        dpi: Dots per inch (``size * dpi`` pixels a side).

    Returns:
        The path written.
    """
    lay = get_layout(layout)
    seq = _as_sequence(sequence, lay, "sequence")
    if not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps: expected a positive int, got {fps!r}")
    _mpl()
    from matplotlib.animation import FuncAnimation, PillowWriter

    path = Path(path)
    down = _default_y_down(seq.shape[-1], y_down)
    xy = seq[..., :2]
    xlim, ylim = _limits(xy)
    fig = _new_figure((size, size), dpi=dpi)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.88 if title is not None else 0.96))
    t_total = seq.shape[1]

    def draw(t: int) -> list:
        ax.clear()
        ax.set_xlim(*xlim)
        ax.set_ylim(*(ylim[::-1] if down else ylim))
        ax.set_aspect("equal")
        ax.set_axis_off()
        for person in seq:
            plot_skeleton(person[t, :, :2], lay, ax, y_down=down, view="xy")
        label = f"{title}  " if title else ""
        ax.set_title(f"{label}{t + 1}/{t_total}", fontsize=9)
        return []

    anim = FuncAnimation(fig, draw, frames=t_total, interval=1000 / fps, blit=False)
    with atomic_path(path, suffix=path.suffix) as tmp:
        anim.save(str(tmp), writer=PillowWriter(fps=fps), dpi=dpi)
    return path


def _key_frames(seq: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` frames spread evenly over the frames that hold at least one joint."""
    valid = np.flatnonzero(np.isfinite(seq).all(-1).any(axis=(0, 2)))
    if len(valid) == 0:
        return np.zeros(0, dtype=np.int64)
    pos = np.linspace(0, len(valid) - 1, min(count, len(valid)))
    return valid[np.round(pos).astype(np.int64)]


def _normalised_xy(seq: np.ndarray, lay: Layout, down: bool) -> np.ndarray:
    """Front-view ``(M, T, V, 2)``, y up, scaled to unit height and centred on the body's vertical extent."""
    xy = seq[..., :2].copy()
    if down:
        xy[..., 1] = -xy[..., 1]
    first = xy[0]
    centre_joints = first[:, list(lay.center)]
    ok = np.isfinite(centre_joints).all(-1).all(-1)
    if ok.any():
        c = centre_joints[np.argmax(ok)].mean(0)
    else:
        c = np.nanmean(xy.reshape(-1, 2), axis=0)
    xy -= c
    ys = xy[..., 1][np.isfinite(xy[..., 1])]
    if ys.size == 0:
        return xy
    lo, hi = np.percentile(ys, 1), np.percentile(ys, 99)
    xy[..., 1] -= (lo + hi) / 2  # vertically centred on the body, whichever joint the layout centres on
    return xy / max(hi - lo, 1e-6)


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


_STRIP_STEP = 0.72  # horizontal distance between key frames, in body heights
_STRIP_Y = (-0.62, 0.62)  # vertical limits in body heights


def _draw_strip(ax: Axes, seq: np.ndarray, lay: Layout, down: bool, key_frames: int) -> None:
    """Key frames of a sequence side by side in one axes, early frames faint, the last one solid.

    Each key frame is re-centred horizontally on the first person's centre in that frame, so a walking person
    stays in their slot; vertical motion (jumps, sitting down) is kept.
    """
    xy = _normalised_xy(seq, lay, down)
    idx = _key_frames(seq, key_frames)
    for i, t in enumerate(idx):
        alpha = 0.35 + 0.65 * (i + 1) / len(idx)
        centre = xy[0, t, list(lay.center), 0]
        dx = np.nanmean(centre) if np.isfinite(centre).any() else np.nanmean(xy[:, t, :, 0])
        dx = 0.0 if not np.isfinite(dx) else dx
        for person in xy:
            plot_skeleton(
                person[t],
                lay,
                ax,
                y_down=False,
                view="xy",
                offset=(i * _STRIP_STEP - dx, 0.0),
                linewidth=1.8,
                joint_size=5.0,
                alpha=alpha,
            )
    ax.set_xlim(-_STRIP_STEP / 2, _STRIP_STEP * (key_frames - 0.5))
    ax.set_ylim(*_STRIP_Y)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_color("#cccccc")


def plot_retrieval_grid(
    query: Any,
    hits: Sequence[Any],
    layout: str | Layout,
    *,
    labels: Sequence[Any] | None = None,
    scores: Sequence[float] | None = None,
    query_label: Any = None,
    class_names: Mapping | Sequence | None = None,
    path: str | os.PathLike | None = None,
    key_frames: int = 6,
    y_down: bool | None = None,
    title: str | None = None,
) -> Figure:
    """Draw a query sequence and its retrieved neighbours as rows of key frames.

    Each row shows ``key_frames`` frames spread over the sequence, left to right, fading in over time. Rows
    are titled with the label (and score); a neighbour's title is green when its label equals the query's
    and red otherwise.

    Args:
        query: The query sequence ``(T, V, C)`` or ``(M, T, V, C)``.
        hits: The retrieved sequences, best first (each like ``query``; lengths may differ).
        layout: Layout name or [`Layout`][slimkit.layouts.Layout].
        labels: One label per hit (e.g. ``result.labels[i]`` of a ``Retriever.search`` result).
        scores: One similarity per hit (e.g. ``result.scores[i]``).
        query_label: The query's label, shown and compared with the hits' labels.
        class_names: Maps a label to a readable name (a dict, or a list indexed by label).
        path: Write the figure there (``.png``, ``.svg``, ``.pdf``...) when given.
        key_frames: Frames shown per sequence.
        y_down: Whether y grows downwards; default ``True`` for 2-D, ``False`` for 3-D data.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    lay = get_layout(layout)
    q = _as_sequence(query, lay, "query")
    hs = [_as_sequence(h, lay, f"hits[{i}]") for i, h in enumerate(hits)]
    if labels is not None and len(labels) != len(hs):
        raise ValueError(f"labels: expected {len(hs)} labels (one per hit), got {len(labels)}")
    if scores is not None and len(scores) != len(hs):
        raise ValueError(f"scores: expected {len(hs)} scores (one per hit), got {len(scores)}")
    if key_frames < 1:
        raise ValueError(f"key_frames: expected >= 1, got {key_frames}")
    down = _default_y_down(q.shape[-1], y_down)
    rows = 1 + len(hs)
    # Lay the axes out in inches so that one data unit has the same size along x and y (undistorted bodies).
    unit = 1.15
    label_w, gap, margin = 1.75, 0.1, 0.08
    title_lines = str(title).count("\n") + 1 if title else 0  # a multi-line title gets room for every line
    head = 0.26 + 0.19 * title_lines if title else 0.15
    head += 0.2 if query_label is not None and labels is not None else 0.0
    ax_w = unit * _STRIP_STEP * key_frames
    ax_h = unit * (_STRIP_Y[1] - _STRIP_Y[0])
    fig_w = label_w + ax_w + margin
    fig_h = head + rows * ax_h + (rows - 1) * gap + margin
    fig = _new_figure((fig_w, fig_h), dpi=110)
    q_text = _label_text(query_label, class_names)
    for r in range(rows):
        bottom = fig_h - head - (r + 1) * ax_h - r * gap
        ax = fig.add_axes((label_w / fig_w, bottom / fig_h, ax_w / fig_w, ax_h / fig_h))
        seq = q if r == 0 else hs[r - 1]
        _draw_strip(ax, seq, lay, down, key_frames)
        if r == 0:
            text, color = "query" + (f"\n{_wrap(q_text)}" if q_text else ""), "black"
            ax.set_facecolor("#f4f4f4")
        else:
            lab = labels[r - 1] if labels is not None else None
            text = f"#{r}" + (f"   score {scores[r - 1]:.3f}" if scores is not None else "")
            if lab is not None:
                text += "\n" + _wrap(_label_text(lab, class_names))
            color = "black"
            if lab is not None and query_label is not None:
                color = _MATCH_COLOR if _same(lab, query_label) else _MISMATCH_COLOR
        ax.set_ylabel(text, rotation=0, ha="right", va="center", fontsize=9, color=color, labelpad=8)
    if title:
        fig.suptitle(title, fontsize=11, y=1 - 0.1 / fig_h, va="top")
    if query_label is not None and labels is not None:
        fig.text(
            0.5,
            1 - (0.15 + 0.19 * title_lines if title else 0.08) / fig_h,
            "green: same label as the query, red: another label",
            fontsize=8,
            color="#666666",
            ha="center",
            va="top",
        )
    _save(fig, path, tight=False)
    return fig


def _wrap(text: str, width: int = 20) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


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
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)
    return fig


def _save(fig: Figure, path: str | os.PathLike | None, tight: bool = True) -> None:
    """Write ``fig`` to ``path`` (format by its suffix) atomically, cropped to its content when ``tight``."""
    if path is not None:
        with atomic_path(path, suffix=Path(path).suffix) as tmp:
            fig.savefig(tmp, bbox_inches="tight" if tight else None)


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
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)
    return fig


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
