"""Long recordings: window bounds, embed_windows (parity with embed of each slice), the long-sequence warning."""

import warnings

import numpy as np
import pytest
from conftest import random_walk

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.preprocessing import LONG_SEQUENCE_FACTOR, LongSequenceWarning
from slimkit.windows import embed_windows, window_bounds


@pytest.fixture(scope="module")
def enc():
    return SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=32, depth=1)).eval()


@pytest.mark.parametrize("t,w,s", [(100, 32, 8), (100, 32, 32), (97, 30, 7), (10, 32, 8), (32, 32, 5), (1, 4, 1)])
def test_window_bounds_cover_every_frame_with_fixed_length(t, w, s):
    b = window_bounds(t, w, s)
    assert b[0, 0] == 0 and b[-1, 1] == t
    length = min(w, t)
    assert (b[:, 1] - b[:, 0] == length).all()
    covered = np.zeros(t, bool)
    for a, e in b:
        covered[a:e] = True
    assert covered.all()
    assert (np.diff(b[:, 0]) > 0).all() and (np.diff(b[:-1, 0]) == s).all()


def test_window_bounds_rejects_bad_arguments():
    with pytest.raises(ValueError, match="stride"):
        window_bounds(10, 4, 0)
    with pytest.raises(ValueError, match="window"):
        window_bounds(10, -1, 2)


def test_each_window_embeds_like_the_slice(enc, rng):
    a = random_walk(rng, 90, 20)
    b = random_walk(rng, 50, 20)
    res = enc.embed_windows([a, b], window=32, stride=16, fps=30.0)
    assert res.embeddings.shape == (len(res), enc.embed_dim)
    assert set(res.sequence.tolist()) == {0, 1}
    seqs = [a, b]
    slices = [seqs[i][s:e] for i, s, e in zip(res.sequence, res.start, res.end, strict=True)]
    np.testing.assert_allclose(res.embeddings, enc.embed(slices), atol=1e-6)
    np.testing.assert_allclose(res.start_time, res.start / 30.0)
    np.testing.assert_allclose(res.end_time, res.end / 30.0)
    # recording a: windows 0-32, 16-48, 32-64, 48-80, and 58-90 aligned to the end
    assert list(zip(res.start[res.sequence == 0], res.end[res.sequence == 0], strict=True)) == [
        (0, 32), (16, 48), (32, 64), (48, 80), (58, 90)]


def test_empty_windows_and_trailing_padding_are_skipped(enc, rng):
    a = random_walk(rng, 100, 20)
    a[40:72] = 0.0  # the person leaves for 32 frames
    a[90:] = 0.0  # zero padding at the end
    res = embed_windows(enc, a, window=16, stride=16)
    spans = list(zip(res.start.tolist(), res.end.tolist(), strict=True))
    assert (48, 64) not in spans  # only missing joints: nothing to embed
    assert (32, 48) in spans  # partly valid
    assert max(e for _, e in spans) == 90  # trailing padding is not part of the recording
    assert np.isfinite(res.embeddings).all()


def test_embed_windows_errors(enc, rng):
    with pytest.raises(ValueError, match="window"):
        enc.embed_windows(random_walk(rng, 20, 20), window=0)
    with pytest.raises(ValueError, match="fps"):
        enc.embed_windows(random_walk(rng, 20, 20), window=8, fps=-2)
    with pytest.raises(ValueError, match="no window"):
        enc.embed_windows(np.zeros((20, 20, 3), np.float32), window=8)


def test_long_sequence_warns_and_points_to_windows(enc, rng, monkeypatch):
    import slimkit.preprocessing as pre

    limit = LONG_SEQUENCE_FACTOR * enc.config.num_frames
    monkeypatch.setattr(pre, "_warned_long", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LongSequenceWarning)
        enc.embed(random_walk(rng, limit, 20))  # at the limit: no warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # a batch of long, view-aligned sequences (view alignment resets Python's warning registry): one warning
        enc.embed([random_walk(rng, limit + 1, 20) for _ in range(3)])
        enc.embed(random_walk(rng, limit + 5, 20))
    long = [w for w in caught if issubclass(w.category, LongSequenceWarning)]
    assert len(long) == 1 and "embed_windows" in str(long[0].message)


def test_windows_of_real_nwucla_stream(shared_data, enc):
    from slimkit.data import load

    files = sorted((shared_data / "nw-ucla" / "all_sqe").glob("a0[1-3]_s01_e00_v01.json"))
    clips = [load(f)[0][0] for f in files]
    stream = np.concatenate(clips, axis=1)  # (1, T, 20, 3)
    t0 = clips[0].shape[1]
    res = enc.embed_windows(stream, window=t0, stride=1)
    # the window that is exactly the first clip embeds like the clip itself
    row = int(np.flatnonzero((res.start == 0) & (res.end == t0))[0])
    np.testing.assert_allclose(res.embeddings[row], enc.embed(clips[0])[0], atol=1e-6)
    assert res.end.max() == stream.shape[1]
