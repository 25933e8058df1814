"""Retrieval results as a grid: the query and its hits, each as a strip of key frames
([`plot_retrieval_grid`][slimkit.viz.plot_retrieval_grid])."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._utils import check_positive_int
from ..layouts import Layout, get_layout
from ._figure import _label_text, _new_figure, _save
from .skeleton import _as_sequence, _default_y_down, plot_skeleton

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_MATCH_COLOR = "#2ca02c"
_MISMATCH_COLOR = "#d62728"


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
    key_frames = check_positive_int(key_frames, "key_frames")
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

