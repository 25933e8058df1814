import numpy as np
import pytest
import torch
from conftest import random_walk

from slimkit import SLiMConfig
from slimkit.layouts import get_layout
from slimkit.preprocessing import SequenceSource, prepare_sequence, resample, standardize

CFG = SLiMConfig.tiny(layout="kinect20")


def test_resample_is_linear_interpolation():
    seq = np.arange(5, dtype=np.float32).reshape(1, 5, 1, 1) * np.ones((1, 5, 1, 3), np.float32) + 1
    out = resample(seq, 9)
    np.testing.assert_allclose(out[0, :, 0, 0], np.linspace(1, 5, 9), rtol=1e-6)
    one = resample(seq[:, :1], 4)
    np.testing.assert_array_equal(one[0, :, 0, 0], np.ones(4))


def test_resample_uses_the_valid_neighbour_when_one_is_missing():
    seq = np.ones((1, 3, 1, 3), np.float32)
    seq[0, 1] = np.nan
    seq[0, 2] = 3.0
    out = resample(seq, 5)  # positions 0, .5, 1, 1.5, 2
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0, :, 0, 0], [1, 1, 3, 3, 3])


def test_zero_padded_frames_and_absent_person_are_dropped(rng):
    seq = random_walk(rng, 30, 20)
    padded = np.zeros((2, 50, 20, 3), np.float32)
    padded[0, 10:40] = seq
    np.testing.assert_array_equal(standardize(padded, CFG), standardize(seq, CFG))


def test_missing_joints_become_nan_never_origin(rng):
    seq = random_walk(rng, 10, 20)
    seq[2, 5] = 0.0
    seq[3, 6] = np.nan
    seq[4, 7, 1] = np.inf
    out = standardize(seq, CFG)
    assert np.isnan(out[0, 2, 5]).all() and np.isnan(out[0, 3, 6]).all() and np.isnan(out[0, 4, 7]).all()
    assert np.isfinite(out[0, 0]).all()


def test_centering_puts_centre_joint_of_first_frame_at_origin(rng):
    out = standardize(random_walk(rng, 10, 20) + 5.0, CFG)
    np.testing.assert_allclose(out[0, 0, get_layout("kinect20").index("spine")], 0.0, atol=1e-6)


def test_view_align_points_spine_up_and_shoulders_along_x(rng):
    lay = get_layout("kinect20")
    seq = random_walk(rng, 12, 20)
    theta = 0.7
    rot = np.array([[np.cos(theta), 0, np.sin(theta)], [0, 1, 0], [-np.sin(theta), 0, np.cos(theta)]])
    cfg = CFG.replace(view_align=True)
    a, b = standardize(seq, cfg), standardize((seq @ rot.T).astype(np.float32), cfg)
    np.testing.assert_allclose(a, b, atol=1e-4)  # a camera rotation is undone
    up = np.nanmean(a[0, :, lay.spine[1][0]] - a[0, :, lay.spine[0][0]], axis=0)
    across = np.nanmean(a[0, :, lay.shoulders[1]] - a[0, :, lay.shoulders[0]], axis=0)
    assert up[1] > 0 and abs(up[0]) < 1e-4 and abs(up[2]) < 1e-4
    assert across[0] > 0 and abs(across[2]) < 1e-4


def test_normalize_scale_gives_unit_rms(rng):
    seq = random_walk(rng, 20, 20) * 300.0
    out = standardize(seq, CFG.replace(normalize_scale=True))
    np.testing.assert_allclose(np.sqrt(np.nanmean(np.sum(out ** 2, -1))), 1.0, rtol=1e-5)


def test_max_persons_keeps_the_most_visible(rng):
    seq = random_walk(rng, 8, 20, m=3)
    seq[0, :, :15] = np.nan  # person 0 mostly missing
    out = standardize(seq, CFG)
    assert out.shape[0] == 2
    np.testing.assert_allclose(out[0] - out[0, 0, 1], seq[1] - seq[1, 0, 1], atol=1e-5)


def test_score_channel_for_2d_models(rng):
    cfg = SLiMConfig.tiny(layout="coco17", in_channels=2)
    xy = rng.uniform(10, 100, size=(6, 17, 2)).astype(np.float32)
    score = np.full((6, 17, 1), 0.9, np.float32)
    score[1, 3] = 0.0
    out = standardize(np.concatenate([xy, score], -1), cfg)
    assert out.shape == (1, 6, 17, 2)
    assert np.isnan(out[0, 1, 3]).all() and np.isfinite(out[0, 1, 4]).all()


def test_prepare_sequence_shape_and_person_padding(rng):
    out = prepare_sequence(random_walk(rng, 17, 20), CFG)
    assert out.shape == (2, 32, 20, 3) and out.dtype == np.float32
    assert np.isnan(out[1]).all() and np.isfinite(out[0]).all()


@pytest.mark.parametrize(
    "shape, fmt, n",
    [((9, 20, 3), "auto", 1), ((2, 9, 20, 3), "auto", 1), ((4, 1, 9, 20, 3), "auto", 4), ((4, 9, 20, 3), "NTVC", 4)],
)
def test_sequence_source_shapes(shape, fmt, n):
    src = SequenceSource(np.ones(shape, np.float32), fmt)
    assert len(src) == n
    assert all(s.ndim == 4 and s.shape[-2:] == (20, 3) for s in src.batch(0, n))


def test_ctrgcn_and_npz_layouts_match_nmtvc(rng):
    x = rng.normal(size=(3, 2, 9, 20, 3)).astype(np.float32)  # N M T V C
    nctvm = np.transpose(x, (0, 4, 2, 3, 1))
    ntf = np.transpose(x, (0, 2, 1, 3, 4)).reshape(3, 9, 2 * 20 * 3)
    a = SequenceSource(x).batch(0, 3)
    b = SequenceSource(nctvm, "NCTVM").batch(0, 3)
    c = SequenceSource(torch.from_numpy(ntf), "NTF", num_joints=20, channels=3).batch(0, 3)
    for u, v, w in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(u, v)
        np.testing.assert_array_equal(u, w)


def test_memory_bounded_slicing():
    class Recorder:
        """Array-like that records the largest slice read."""

        def __init__(self, n):
            self.n, self.max_read = n, 0

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            self.max_read = max(self.max_read, 1)
            return np.ones((5, 20, 3), np.float32) * (i + 1)

    rec = Recorder(1000)
    src = SequenceSource(rec)
    assert len(src) == 1000
    assert len(src.batch(10, 20)) == 10 and rec.max_read == 1


@pytest.mark.parametrize(
    "bad, exc, msg",
    [
        (np.zeros((9, 21, 3)), ValueError,
         r"expected \(M, T, 20, 3\) for layout 'kinect20'.*got shape \(1, 9, 21, 3\)"),
        (np.ones((9, 20, 4)), ValueError, r"in_channels=3, got shape"),
        (np.ones((0, 20, 3)), ValueError, "at least one frame"),
        (np.full((9, 20, 3), np.nan), ValueError, "no valid joint"),
        (np.ones((9, 20, 3), dtype=bool), TypeError, "dtype bool"),
        (np.ones((9, 20, 3), dtype=complex), TypeError, "dtype complex"),
        (np.random.default_rng(0).normal(size=(3, 20, 3)) * 1e9, ValueError, r"coordinates up to"),
    ],
)
def test_bad_input_names_argument_and_shapes(bad, exc, msg):
    src = SequenceSource(bad, "TVC") if bad.dtype != bool and bad.dtype != complex else None
    with pytest.raises(exc, match=msg):
        if src is None:
            SequenceSource(bad)
        else:
            prepare_sequence(src.batch(0, 1)[0], CFG, name="skeletons[0]")


def test_bad_input_format_and_types():
    with pytest.raises(ValueError, match="input_format"):
        SequenceSource(np.ones((2, 9, 20, 3)), "NXTV")
    with pytest.raises(ValueError, match=r"expected an array of shape \(T, V, C\)"):
        SequenceSource(np.ones((9, 20)))
    with pytest.raises(TypeError, match="skeletons: expected an array"):
        SequenceSource(42)
    with pytest.raises(ValueError, match="empty input"):
        SequenceSource([])
    with pytest.raises(TypeError, match=r"skeletons\[1\]: expected a real-valued"):
        SequenceSource([np.ones((3, 20, 3)), np.array([["a"] * 3] * 20)]).batch(0, 2)
