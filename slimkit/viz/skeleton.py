"""Skeleton frames ([`plot_skeleton`][slimkit.viz.plot_skeleton]) and animated GIFs of sequences
([`animate`][slimkit.viz.animate])."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._arrays import mark_missing
from .._utils import atomic_path, check_positive_int
from ..layouts import Layout, get_layout
from ._figure import _as_float, _mpl, _new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

LEFT_COLOR = "#1f77b4"
RIGHT_COLOR = "#d62728"
CENTER_COLOR = "#555555"


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
    check_positive_int(fps, "fps")
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

