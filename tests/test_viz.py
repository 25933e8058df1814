"""slimkit.viz: files are written and valid, missing joints are not drawn."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402

from slimkit import viz  # noqa: E402
from slimkit.layouts import get_layout  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bone_segments(ax) -> int:
    from matplotlib.collections import LineCollection

    return sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))


def _standing(t: int = 12, layout: str = "kinect20", c: int = 3, seed: int = 0) -> np.ndarray:
    """A person-ish sequence: the layout's tree laid out in a plane, swaying a little."""
    lay = get_layout(layout)
    rng = np.random.default_rng(seed)
    base = np.zeros((lay.num_joints, c))
    for child, parent in lay.bones:
        base[child] = (
            base[parent]
            + np.r_[rng.normal(scale=0.1), -0.2 if "hip" in lay.joints[child] else 0.15, np.zeros(c - 2)]
        )
    base += 0.5
    sway = np.sin(np.linspace(0, 3, t))[:, None, None] * 0.05
    return (base[None] + sway).astype(np.float32)


def test_plot_skeleton_draws_one_segment_per_bone():
    lay = get_layout("kinect20")
    frame = _standing(1)[0][:, :2]
    ax = viz.plot_skeleton(frame, lay)
    assert _bone_segments(ax) == len(lay.bones)
    assert ax.yaxis_inverted()  # 2-D data are pixels, y down


@pytest.mark.parametrize("missing", ["nan", "zero"])
def test_plot_skeleton_skips_missing_joints_and_their_bones(missing):
    lay = get_layout("kinect20")
    frame = _standing(1)[0][:, :2]
    j = lay.index("l_elbow")  # bones: l_elbow-l_shoulder and l_wrist-l_elbow
    frame[j] = np.nan if missing == "nan" else 0.0
    ax = viz.plot_skeleton(frame, lay)
    touching = sum(1 for c, p in lay.bones if j in (c, p))
    assert touching == 2
    assert _bone_segments(ax) == len(lay.bones) - touching
    drawn = sum(len(c.get_offsets()) for c in ax.collections if not hasattr(c, "get_segments"))
    assert drawn == lay.num_joints - 1


def test_plot_skeleton_3d():
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    lay = get_layout("kinect20")
    frame = _standing(1)[0]
    frame[3] = np.nan
    ax = viz.plot_skeleton(frame, lay)
    assert ax.name == "3d"
    segs = [c for c in ax.collections if isinstance(c, Line3DCollection)]
    assert len(segs) == 1 and len(segs[0]._segments3d) == len(lay.bones) - 1


def test_plot_skeleton_rejects_wrong_shape():
    with pytest.raises(ValueError, match="kinect20"):
        viz.plot_skeleton(np.zeros((17, 2)), "kinect20")


def test_animate_writes_gif_with_one_frame_per_time_step(tmp_path):
    seq = _standing(7)
    seq[2, 5] = np.nan
    path = viz.animate(seq, "kinect20", tmp_path / "sub" / "walk.gif", fps=10)
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == 7


def test_animate_two_persons_2d(tmp_path):
    seq = np.stack([_standing(5, "coco17", 2), _standing(5, "coco17", 2, seed=1) + 1.0])
    path = viz.animate(seq * 100, "coco17", tmp_path / "two.gif")
    with Image.open(path) as im:
        assert im.n_frames == 5


def test_retrieval_grid_png(tmp_path):
    q = _standing(20)
    hits = [_standing(t, seed=s) for s, t in [(1, 15), (2, 30), (3, 9)]]
    hits[1][:, 4] = np.nan
    fig = viz.plot_retrieval_grid(
        q,
        hits,
        "kinect20",
        labels=[1, 2, 1],
        scores=[0.9, 0.8, 0.7],
        query_label=1,
        class_names={1: "wave", 2: "sit"},
        path=tmp_path / "grid.png",
        title="t",
    )
    data = (tmp_path / "grid.png").read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(fig.axes) == 4
    with Image.open(tmp_path / "grid.png") as im:
        assert im.size[0] > 300 and im.size[1] > 300


def test_retrieval_grid_checks_lengths():
    with pytest.raises(ValueError, match="labels"):
        viz.plot_retrieval_grid(_standing(5), [_standing(5)], "kinect20", labels=[1, 2])


def test_embedding_map_png(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 16))
    labels = np.repeat(["a", "b", "c", "d"], 10)
    fig = viz.plot_embedding_map(z, labels, path=tmp_path / "map.png", title="map")
    assert (tmp_path / "map.png").read_bytes()[:8] == PNG_MAGIC
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b", "c", "d"]


def test_missing_matplotlib_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install 'slimkit\[viz\]'"):
        viz.plot_embedding_map(np.eye(3), None)
