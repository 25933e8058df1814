"""Draw the docs picture of motion capture converted to Kinect v1 joints (docs/images/mocap-kinect20.png).

An HDM05 clip (Acclaim ASF/AMC, layout ``hdm05-31``) and a Bandai-Namco clip (BVH, ``bvh-bandai22``) are read
with ``slimkit.data.load``, converted to ``kinect20`` and drawn with ``slimkit.viz.plot_skeleton`` beside an
NW-UCLA sequence (Kinect v1, ``kinect20``). Top row: one frame, the mocap skeleton in light grey under its
``kinect20`` conversion (Bandai's ground-level ``joint_root`` left out). Bottom row: five frames of each clip,
left to right.

Mocap positions are in the capture's world frame; for the picture each clip is turned about the vertical
axis so that the person faces the viewer as the NW-UCLA person does (left hip towards -x), and stood on the
floor of its first frame. The data stay where they are: this only changes the view.

    python scripts/make_mocap_figure.py [--data ../shared/data] [--out docs/images/mocap-kinect20.png]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from slimkit.data import load
from slimkit.layouts import convert_layout, get_layout
from slimkit.viz import plot_skeleton

CLIPS = [  # (title, file below --data)
    ("HDM05 kickLFront (ASF/AMC, 120 -> 30 fps)", "hdm05/train/6/HDM_bd_kickLFront1Reps_001_120.amc"),
    ("Bandai-Namco kick (BVH, 30 fps)", "bandai-namco/data/dataset-1_kick_normal_001.bvh"),
    ("NW-UCLA pick up with one hand (Kinect v1)", "nw-ucla/all_sqe/a01_s01_e00_v01.json"),
]
FRAME_STEP = 0.75  # metres between the frames of the strip


def facing_turn(k20: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rotation, centre)`` turning a ``(T, 20, 3)`` kinect20 clip about y so that the first frame's
    l_hip -> r_hip runs along +x, as in NW-UCLA's camera frame (the person faces the viewer)."""
    lay = get_layout("kinect20")
    across = k20[0, lay.index("r_hip")] - k20[0, lay.index("l_hip")]
    angle = np.arctan2(across[2], across[0])
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]), np.nanmean(k20[0], axis=0)


def main() -> None:
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(here.parent / "shared" / "data"), help="the shared data folder")
    parser.add_argument("--out", default=str(here / "docs" / "images" / "mocap-kinect20.png"))
    args = parser.parse_args()

    fig = Figure(figsize=(13.5, 8.0), dpi=100)  # no pyplot: the script's output does not depend on a backend
    grid = fig.add_gridspec(2, 3, height_ratios=(1.15, 1.0), hspace=0.12, wspace=0.05)
    for col, (title, file) in enumerate(CLIPS):
        ds = load(Path(args.data) / file)
        i = 0
        native = ds[i][0][0]
        k20 = native if ds.layout == "kinect20" else convert_layout(native, ds.layout, "kinect20")
        turn, centre = facing_turn(k20)
        k20, native = (k20 - centre) @ turn.T + centre, (native - centre) @ turn.T + centre
        spread = np.nanstd(k20, axis=1).sum(-1)  # the most spread-out frame (the kick), else the middle one
        key = int(np.nanargmax(spread)) if ds.layout != "kinect20" else len(k20) // 2
        ax = fig.add_subplot(grid[0, col])
        if ds.layout != "kinect20":
            under = native[key].copy()
            if "joint_root" in get_layout(ds.layout).joints:  # Bandai's ground-level helper: not a body joint
                under[get_layout(ds.layout).index("joint_root")] = np.nan
            plot_skeleton(under, ds.layout, ax=ax, view="xy", color="#bbbbbb", linewidth=6.0, joint_size=0)
        plot_skeleton(k20[key], "kinect20", ax=ax, view="xy", linewidth=2.0, joint_size=14)
        ax.set_title(f"{title}\n{ds.layout} -> kinect20" if ds.layout != "kinect20" else f"{title}\nkinect20")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        strip = fig.add_subplot(grid[1, col])
        frames = np.linspace(0, len(k20) - 1, 5).round().astype(int)
        for n, t in enumerate(frames):
            f = k20[t].copy()
            f[:, 0] -= np.nanmean(f[:, 0])
            plot_skeleton(f, "kinect20", ax=strip, view="xy", offset=(n * FRAME_STEP, 0.0), linewidth=1.5,
                          joint_size=4, alpha=0.45 + 0.55 * n / 4)  # fmt: skip
        strip.set_aspect("equal", adjustable="datalim")
        strip.set_xticks([])
        strip.set_yticks([])
        fps = f" at {ds.meta['fps'][i]:g} fps" if "fps" in ds.meta else ""
        strip.set_xlabel(f"{ds.names[i]}\n5 of {len(k20)} frames{fps}", fontsize=9)
    fig.suptitle("Motion capture converted to Kinect v1 joints (kinect20), beside an NW-UCLA skeleton", y=0.97)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=out.parent)
    os.close(fd)
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
