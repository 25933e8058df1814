"""Moment search: temporal IoU / NMS, MomentIndex on planted data and on real NW-UCLA streams, the CLI path."""

import importlib.util
import json
import shutil

import numpy as np
import pytest
from conftest import SHARED_DATA, random_walk

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.cli import main

pytestmark = pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="faiss not installed")


def unit(a):
    return (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float32)


def test_temporal_iou():
    from slimkit.moments import temporal_iou

    assert temporal_iou((0, 10), (0, 10)) == 1.0
    assert temporal_iou((0, 10), (10, 20)) == 0.0  # touching spans do not overlap
    assert temporal_iou((0, 10), (5, 15)) == pytest.approx(5 / 15)


def test_nms_keeps_best_and_drops_overlaps_per_recording():
    from slimkit.moments import temporal_nms

    rec = ["a", "a", "b", "a", "a"]
    st = [0, 8, 0, 40, 20]
    en = [16, 24, 16, 56, 36]
    kept = temporal_nms(rec, st, en, order=[1, 0, 2, 3, 4])
    # 0 overlaps the better 1; 2 is another recording; 3 is disjoint; 4 (20-36) overlaps 1 (8-24)
    assert kept == [1, 2, 3]
    assert temporal_nms(rec, st, en, order=[1, 0, 2, 3, 4], iou_threshold=0.5) == [1, 0, 2, 3, 4]
    assert temporal_nms(rec, st, en, order=[1, 0, 2, 3, 4], limit=2) == [1, 2]


@pytest.fixture
def planted():
    """Windows of 3 recordings; a target direction planted in recording 'r1' around frames 40-56."""
    from slimkit.moments import MomentIndex

    rng = np.random.default_rng(0)
    target = unit(rng.normal(size=16))
    recs, starts, embs = [], [], []
    for r in ("r0", "r1", "r2"):
        for s in range(0, 96, 8):
            recs.append(r)
            starts.append(s)
            e = unit(rng.normal(size=16))
            if r == "r1" and 32 <= s <= 48:
                e = unit(target + (0.05 if s == 40 else 0.2) * rng.normal(size=16))
            embs.append(e)
    idx = MomentIndex(None, window=16, stride=8, fps=10, dim=16)
    idx.add_windows(np.stack(embs), recs, np.array(starts), np.array(starts) + 16)
    return idx, target


def test_top_moment_is_the_planted_one_and_moments_do_not_overlap(planted):
    idx, target = planted
    moments = idx.search(target, k=4)[0]
    assert len(moments) == 4
    top = moments[0]
    assert (top.recording, top.start, top.end) == ("r1", 40, 56)
    assert top.start_time == 4.0 and top.end_time == 5.6
    scores = [m.score for m in moments]
    assert scores == sorted(scores, reverse=True)
    for i, a in enumerate(moments):
        for b in moments[i + 1 :]:
            if a.recording == b.recording:
                assert a.end <= b.start or b.end <= a.start
    # without suppression the neighbours of the planted window come next
    raw = idx.search(target, k=3, iou_threshold=0.99)[0]
    assert [(m.recording, m.start) for m in raw[:1]] == [("r1", 40)]
    assert all(m.recording == "r1" for m in raw)


def test_save_load_round_trip(planted, tmp_path):
    from slimkit.moments import MomentIndex

    idx, target = planted
    idx.save(tmp_path / "m.slimidx")
    back = MomentIndex.load(tmp_path / "m.slimidx")
    assert back.recordings == ["r0", "r1", "r2"] and back.windows == (16,) and back.fps == 10
    assert back.search(target, k=3) == idx.search(target, k=3)


def test_errors(planted, tmp_path):
    from slimkit import Retriever
    from slimkit.moments import MomentIndex

    idx, _ = planted
    with pytest.raises(ValueError, match="no encoder"):
        idx.search(np.zeros((8, 20, 3), np.float32))
    with pytest.raises(ValueError, match="iou_threshold"):
        idx.search(np.ones(16, np.float32), iou_threshold=1.0)
    with pytest.raises(ValueError, match="dim"):
        MomentIndex(None, window=8)
    with pytest.raises(ValueError, match="starts, ends"):
        idx.add_windows(np.ones((1, 16), np.float32), ["x"], np.array([5]), np.array([5]))
    with pytest.raises(ValueError, match="empty"):
        MomentIndex(None, window=8, dim=4).search(np.ones(4, np.float32))
    r = Retriever(4)
    r.add(np.eye(4, dtype=np.float32))
    r.save(tmp_path / "plain.slimidx")
    with pytest.raises(ValueError, match="moment-index settings"):
        MomentIndex.load(tmp_path / "plain.slimidx")


def test_add_recordings_with_an_encoder_multiscale(rng):
    from slimkit.moments import MomentIndex

    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=32, depth=1)).eval()
    recs = [random_walk(rng, 70, 20), random_walk(rng, 40, 20)]
    idx = MomentIndex(enc, window=(16, 32), stride=(8, 16))
    n = idx.add(recs, ids=["long", "short"])
    assert n == len(idx) and idx.recordings == ["long", "short"]
    with pytest.raises(ValueError, match="already"):
        idx.add(recs[:1], ids=["long"])
    clip = recs[0][24:40]  # exactly a 16-frame window of 'long'
    top = idx.search(clip, k=1)[0][0]
    assert (top.recording, top.start, top.end) == ("long", 24, 40) and top.score > 0.9999


@pytest.fixture(scope="module")
def ucla_stream(tmp_path_factory):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    src = SHARED_DATA / "nw-ucla" / "all_sqe"
    d = tmp_path_factory.mktemp("ucla")
    for f in sorted(src.glob("a0[1-6]_s02_e00_v03.json")) + sorted(src.glob("a0[1-6]_s03_e01_v01.json")):
        shutil.copy(f, d / f.name)
    return d


def test_real_nwucla_stream_finds_the_planted_clip(ucla_stream):
    """A clip cut out of a long stream of real NW-UCLA sequences is found where it lies."""
    from slimkit.data import load
    from slimkit.moments import MomentIndex

    enc = SLiMEncoder.from_pretrained("slimkit/slim-kinect-tiny")
    ds = load(ucla_stream)
    v3 = [i for i, n in enumerate(ds.names) if n.endswith("v03")]
    clips = [ds[i][0] for i in v3]
    stream = np.concatenate(clips, axis=1)
    bounds = np.cumsum([0] + [c.shape[1] for c in clips])
    j = 2
    a, b = int(bounds[j]), int(bounds[j + 1])
    idx = MomentIndex(enc, window=b - a, stride=1)
    idx.add([stream], ids=["stream"])
    top = idx.search(clips[j], k=3)[0]
    assert (top[0].start, top[0].end) == (a, b) and top[0].score > 0.9999
    assert all(m.end <= top[0].start or m.start >= top[0].end for m in top[1:])


def test_cli_window_embed_index_search(ucla_stream, tmp_path, capsys):
    rc = main(["embed", str(ucla_stream), "-m", "slimkit/slim-kinect-tiny", "--window", "24", "--stride", "8",
               "--fps", "30", "-o", str(tmp_path / "w.npy"), "-q"])
    assert rc == 0
    side = json.loads((tmp_path / "w.json").read_text())
    emb = np.load(tmp_path / "w.npy")
    assert len(side["windows"]) == len(side["ids"]) == emb.shape[0] and side["window"] == 24
    assert len(set(side["ids"])) == len(side["ids"])
    lengths = [e - s for _, s, e in side["windows"]]
    assert max(lengths) == 24 and min(lengths) > 0  # clips shorter than 24 frames give one shorter window
    rec, start, end = side["windows"][3]
    assert side["times"][3] == [start / 30, end / 30] and side["ids"][3] == f"{rec}@{start}-{end}"
    rec = side["windows"][0][0]
    assert main(["index", str(tmp_path / "w.npy"), "-o", str(tmp_path / "w.slimidx")]) == 0
    rc = main(["search", str(tmp_path / "w.slimidx"), "--queries", str(ucla_stream), "-m",
               "slimkit/slim-kinect-tiny", "--rows", "0", "-k", "2", "-o", str(tmp_path / "hits.json"), "-q"])
    assert rc == 0
    hits = json.loads((tmp_path / "hits.json").read_text())
    assert hits[0]["query"] == rec and len(hits[0]["moments"]) == 2
    assert hits[0]["moments"][0]["recording"] == rec  # a clip finds itself first
    capsys.readouterr()
    assert main(["embed", str(ucla_stream), "-m", "slimkit/slim-kinect-tiny", "--stride", "4",
                 "-o", str(tmp_path / "x.npy")]) == 1
    assert "--window" in capsys.readouterr().err
