"""Readers in slimkit.data: real files from ../shared/data and small files in each original format."""

from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import loadmat, savemat

from slimkit import SLiMConfig, SLiMEncoder
from slimkit import data as sd
from slimkit.data import PrepareCollate, SkeletonDataset, collate, load, write_pyskl


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal values and equal NaN positions."""
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.nan_to_num(a), np.nan_to_num(b))


# ---------------------------------------------------------------------------------------------------------
# NTU RGB+D .skeleton, written in the real text format
# ---------------------------------------------------------------------------------------------------------
def person(rng: np.random.Generator, t: int, amplitude: float, x0: float = 0.0) -> np.ndarray:
    """(T, 25, 3) upright body (taller than wide) swinging by `amplitude` metres."""
    base = np.stack([rng.uniform(-0.2, 0.2, 25) + x0, np.linspace(-0.8, 0.8, 25), np.full(25, 3.0)], -1)
    swing = amplitude * np.sin(np.linspace(0, 6, t))[:, None, None] * np.array([1.0, 0.3, 0.2])
    return (base[None] + swing).astype(np.float32)


def write_skeleton(path: Path, frames: list[list[tuple[str, np.ndarray]]]) -> None:
    """frames[t] = [(body_id, joints (25, 3)), ...] in the NTU .skeleton layout (12 values per joint)."""
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for body_id, j in bodies:
            out.append(f"{body_id} 0 1 1 1 1 0 0.02764709 0.05745083 2")
            out.append("25")
            for x, y, z in j:
                out.append(
                    f"{x:.7g} {y:.7g} {z:.7g} 277.3374 191.1306 1036.946 519.0678 "
                    "-0.2059419 0.05264934 0.9692942 -0.1240114 2"
                )
    path.write_text("\r\n".join(out) + "\r\n")


def test_ntu_skeleton_keeps_two_actors_and_drops_noise(tmp_path, rng):
    t = 40
    a, b = person(rng, t, 0.3), person(rng, t, 0.1, x0=1.0)
    short = person(rng, 6, 2.0)  # very active but only 6 frames: a Kinect ghost
    wide = person(rng, 30, 2.0)[..., [1, 0, 2]]  # wider than tall in every frame: not a person
    frames: list[list[tuple[str, np.ndarray]]] = [[]]  # an empty frame first: dropped
    for f in range(t):
        bodies = [("72057594037931101", a[f]), ("72057594037931102", b[f])]
        if 10 <= f < 16:
            bodies.append(("72057594037931103", short[f - 10]))
        if f < 30:
            bodies.insert(0, ("72057594037931104", wide[f]))
        frames.append(bodies)
    p = tmp_path / "S001C001P001R001A050.skeleton"
    write_skeleton(p, frames)
    x = sd.read_ntu_skeleton_file(p)
    assert x.shape == (2, t, 25, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], a, atol=1e-5)  # most active real body first
    np.testing.assert_allclose(x[1], b, atol=1e-5)
    assert sd.read_ntu_skeleton_file(p, max_bodies=1).shape == (1, t, 25, 3)
    ds = load(p)
    assert ds.layout == "ntu25" and ds.labels.tolist() == [49] and ds.names == ["S001C001P001R001A050"]


def test_ntu_skeleton_joins_a_renumbered_track(tmp_path, rng):
    t = 40
    a, b = person(rng, t, 0.3), person(rng, t, 0.05, x0=1.0)
    frames = [[("1" if f < 20 else "3", a[f]), ("2", b[f])] for f in range(t)]
    write_skeleton(tmp_path / "x.skeleton", frames)
    x = sd.read_ntu_skeleton_file(tmp_path / "x.skeleton")
    assert x.shape == (2, t, 25, 3)
    np.testing.assert_allclose(x[0], a, atol=1e-5)  # tracks 1 and 3 are one actor
    np.testing.assert_allclose(x[1], b, atol=1e-5)


def test_ntu_folder_labels_splits_and_lazy_items(tmp_path, rng):
    write_skeleton(
        tmp_path / "S001C002P001R001A050.skeleton",
        [[("1", j), ("2", k)] for j, k in zip(person(rng, 20, 0.3), person(rng, 20, 0.1, 1.0), strict=True)],
    )
    one = person(rng, 15, 0.2)
    one[3, 7] = 0.0  # an all-zero joint is missing
    write_skeleton(tmp_path / "S018C001P003R002A001.skeleton", [[("9", j)] for j in one])
    (tmp_path / "notes.txt").write_text("not data")
    ds = load(tmp_path)
    assert ds.names == ["S001C002P001R001A050", "S018C001P003R002A001"]
    assert ds.labels.tolist() == [49, 0]
    assert ds.split["xsub_train"].tolist() == [0] and ds.split["xsub_val"].tolist() == [1]
    assert ds.split["xview_train"].tolist() == [0] and ds.split["xview_val"].tolist() == [1]
    assert ds.split["xset_train"].tolist() == [1] and ds.split["xset_val"].tolist() == [0]
    assert ds.meta["camera"].tolist() == [2, 1]
    x, y = ds[1]
    assert x.shape == (1, 15, 25, 3) and y == 0
    assert np.isnan(x[0, 3, 7]).all() and np.isfinite(np.delete(x[0, 3], 7, axis=0)).all()
    assert ds[0][0].shape == (2, 20, 25, 3)
    assert len(sd.read_ntu_skeleton(tmp_path, ignore=["S018C001P003R002A001"])) == 1


@pytest.mark.parametrize("keep_lines", [2, 3, 40])
def test_ntu_truncated_file_names_the_file(tmp_path, rng, keep_lines):
    p = tmp_path / "S001C001P001R001A001.skeleton"
    write_skeleton(p, [[("1", j)] for j in person(rng, 5, 0.1)])
    p.write_text("\n".join(p.read_text().splitlines()[:keep_lines]))
    with pytest.raises(ValueError, match="S001C001P001R001A001.skeleton"):
        sd.read_ntu_skeleton_file(p)


# ---------------------------------------------------------------------------------------------------------
# CTR-GCN / MAMP npz
# ---------------------------------------------------------------------------------------------------------
def ctrgcn_rows(rng, lengths, two_person):
    x = np.zeros((len(lengths), 300, 150), np.float32)
    seqs = []
    for i, (t, two) in enumerate(zip(lengths, two_person, strict=True)):
        s = rng.normal(size=(t, 2, 25, 3)).astype(np.float32)
        if not two:
            s[:, 1] = 0.0
        x[i, :t] = s.reshape(t, 150)
        seqs.append(s)
    return x, seqs


@pytest.mark.parametrize("compressed", [False, True])
def test_ctrgcn_npz(tmp_path, rng, compressed):
    xtr, str_ = ctrgcn_rows(rng, [50, 300, 7], [True, False, True])
    xte, ste = ctrgcn_rows(rng, [120], [False])
    ytr, yte = np.eye(60)[[3, 59, 0]], np.eye(60)[[12]]
    p = tmp_path / "NTU60_CS.npz"
    (np.savez_compressed if compressed else np.savez)(p, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    ds = load(p)
    assert len(ds) == 4 and ds.layout == "ntu25"
    assert ds.labels.tolist() == [3, 59, 0, 12]
    assert ds.split["train"].tolist() == [0, 1, 2] and ds.split["test"].tolist() == [3]
    assert ds.names[0] == "train_00000" and ds.names[3] == "test_00000"
    for i, s in enumerate(str_ + ste):
        x, _ = ds[i]
        assert x.shape == (2, len(s), 25, 3)  # zero padding cut, person slots kept
        np.testing.assert_array_equal(x[0], s[:, 0])
        if i in (1, 3):
            assert np.isnan(x[1]).all()  # absent second actor: NaN, not zeros
        else:
            np.testing.assert_array_equal(x[1], s[:, 1])
    if not compressed:  # uncompressed npz members are memory-mapped, not read into RAM
        assert isinstance(ds._source.parts[0]._fn.x, np.memmap)
        # pickling (DataLoader workers) reopens the map instead of copying the data
        assert len(pickle.dumps(ds)) < 10_000
        assert_same(pickle.loads(pickle.dumps(ds))[1][0], ds[1][0])


def test_npz_wrong_width_and_keys(tmp_path):
    np.savez(tmp_path / "a.npz", x_train=np.zeros((2, 300, 100), np.float32))
    with pytest.raises(ValueError, match=r"x_train.*150.*\(2, 300, 100\)"):
        load(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", data=np.zeros(3))
    with pytest.raises(ValueError, match="x_train"):
        load(tmp_path / "b.npz")


# ---------------------------------------------------------------------------------------------------------
# pyskl / mmaction2 pickles
# ---------------------------------------------------------------------------------------------------------
def test_pyskl_3d_float16(tmp_path, rng):
    k1 = rng.normal(size=(1, 30, 25, 3)).astype(np.float16)
    k2 = rng.normal(size=(2, 12, 25, 3)).astype(np.float16)
    k2[1, :4] = 0  # second actor absent for 4 frames
    anns = [
        dict(frame_dir="S001C001P001R001A001", label=0, total_frames=30, keypoint=k1),
        dict(frame_dir="S001C002P002R001A051", label=50, total_frames=12, keypoint=k2),
    ]
    split = {"xsub_train": ["S001C001P001R001A001"], "xsub_val": ["S001C002P002R001A051", "not_here"]}
    p = tmp_path / "ntu60_3danno.pkl"
    p.write_bytes(pickle.dumps(dict(split=split, annotations=anns)))
    ds = load(p)
    assert ds.layout == "ntu25" and ds.labels.tolist() == [0, 50]
    assert ds.split["xsub_train"].tolist() == [0] and ds.split["xsub_val"].tolist() == [1]
    x, _ = ds[1]
    assert x.dtype == np.float32 and x.shape == (2, 12, 25, 3)
    assert np.isnan(x[1, :4]).all()
    np.testing.assert_array_equal(x[0], k2[0].astype(np.float32))
    assert ds.subset("xsub_val").names == ["S001C002P002R001A051"]


def test_pyskl_2d_coco(tmp_path, rng):
    kp = rng.uniform(10, 400, size=(1, 20, 17, 2)).astype(np.float32)
    score = rng.uniform(0.2, 1.0, size=(1, 20, 17)).astype(np.float32)
    score[0, 5, 3] = 0.0
    ann = dict(
        frame_dir="v0",
        label=7,
        total_frames=20,
        keypoint=kp,
        keypoint_score=score,
        img_shape=(480, 640),
        original_shape=(480, 640),
    )
    p = tmp_path / "ntu60_2d.pkl"
    p.write_bytes(pickle.dumps(dict(split={"xsub_train": ["v0"]}, annotations=[ann])))
    ds = load(p)
    assert ds.layout == "coco17"  # mmaction2's NTU 2-D pickles are COCO-17
    x, y = ds[0]
    assert x.shape == (1, 20, 17, 2) and y == 7
    assert np.isnan(x[0, 5, 3]).all() and np.isfinite(x).sum() == x.size - 2
    xs, _ = load(p, with_score=True)[0]
    assert xs.shape == (1, 20, 17, 3)
    np.testing.assert_array_equal(xs[..., 2], score)
    x5, _ = sd.read_pyskl(p, min_score=0.5)[0]
    assert np.isnan(x5[..., 0]).sum() == (score <= 0.5).sum() > 0
    with pytest.raises(ValueError, match=r"openpose18.*18 joints.*V=17"):
        load(p, layout="openpose18")


def random_sequences(rng, c):
    out = []
    for m, t in [(1, 9), (2, 31), (1, 1)]:
        s = rng.normal(size=(m, t, 25 if c == 3 else 17, c)).astype(np.float32)
        s[0, t // 2, 3] = np.nan
        if m == 2:
            s[1, :5] = np.nan
        out.append(s)
    return out


@pytest.mark.parametrize("c", [3, 2])
def test_write_pyskl_round_trip(tmp_path, rng, c):
    seqs = random_sequences(rng, c)
    p = write_pyskl(
        tmp_path / "mine.pkl",
        seqs,
        labels=[2, 0, 1],
        names=["a", "b", "c"],
        split={"train": [0, 1], "val": ["c"]},
        classes=["x", "y", "z"],
    )
    raw = pickle.loads(p.read_bytes())  # pyskl's format: zeros and scores, no NaN
    assert raw["split"] == {"train": ["a", "b"], "val": ["c"]}
    assert np.isfinite(raw["annotations"][1]["keypoint"]).all()
    assert ("keypoint_score" in raw["annotations"][0]) == (c == 2)
    ds = load(p)
    assert ds.layout == ("ntu25" if c == 3 else "coco17")
    assert ds.names == ["a", "b", "c"] and ds.labels.tolist() == [2, 0, 1] and ds.classes == ["x", "y", "z"]
    assert ds.split["train"].tolist() == [0, 1] and ds.split["val"].tolist() == [2]
    for i, s in enumerate(seqs):
        assert_same(ds[i][0], s)
    again = load(write_pyskl(tmp_path / "again.pkl", ds))  # a dataset writes itself
    for i in range(len(ds)):
        assert_same(again[i][0], ds[i][0])
    assert again.split["val"].tolist() == [2]


def test_write_pyskl_scores(tmp_path, rng):
    seqs = random_sequences(rng, 2)
    scores = [rng.uniform(0.1, 1, size=s.shape[:3]).astype(np.float32) for s in seqs]
    ds = load(write_pyskl(tmp_path / "s.pkl", seqs, labels=[0, 1, 2], scores=scores), with_score=True)
    x, _ = ds[1]
    valid = np.isfinite(seqs[1]).all(-1)
    np.testing.assert_array_equal(x[..., 2][valid], scores[1][valid])
    np.testing.assert_array_equal(x[..., :2][valid], seqs[1][valid])


# ---------------------------------------------------------------------------------------------------------
# NW-UCLA json, Penn Action .mat, plain .npy
# ---------------------------------------------------------------------------------------------------------
def test_nwucla_json(tmp_path, rng):
    sk1 = rng.normal(size=(12, 20, 3)).round(5)
    sk1[2, 4] = 0.0
    sk2 = rng.normal(size=(1, 20, 3)).round(5)
    for name, label, sk in [("a01_s01_e00_v01", 1, sk1), ("a12_s09_e04_v03", 10, sk2)]:
        (tmp_path / f"{name}.json").write_text(
            json.dumps(dict(file_name=name, skeletons=sk.tolist(), label=label))
        )
    ds = load(tmp_path)
    assert ds.layout == "kinect20" and ds.labels.tolist() == [0, 9] and ds.classes[9] == "carry"
    assert ds.split["train"].tolist() == [0] and ds.split["test"].tolist() == [1]
    x, _ = ds[0]
    assert x.shape == (1, 12, 20, 3) and np.isnan(x[0, 2, 4]).all()
    np.testing.assert_allclose(x[0, 0], sk1[0], rtol=1e-6)
    assert ds[1][0].shape == (1, 1, 20, 3)
    assert load(tmp_path / "a12_s09_e04_v03.json").meta["view"].tolist() == [3]
    with pytest.raises(ValueError, match="kinect20.*to_layout"):
        load(tmp_path, layout="ntu25")


def write_penn(path: Path, rng, action="tennis_serve", train=1, t=10) -> tuple[np.ndarray, np.ndarray]:
    x, y = rng.uniform(0, 480, (t, 13)), rng.uniform(0, 360, (t, 13))
    vis = (rng.uniform(size=(t, 13)) > 0.3).astype(np.uint8)
    savemat(
        path,
        dict(
            action=np.array([action]),
            pose=np.array(["front"]),
            x=x,
            y=y,
            visibility=vis,
            train=np.array([[train]], np.int32),
            bbox=np.zeros((t, 4)),
            dimensions=np.array([[360, 480, t]], np.uint16),
            nframes=np.array([[t]], np.uint8),
        ),
    )
    return np.stack([x, y], -1), vis


def test_penn_action_mat(tmp_path, rng):
    xy, vis = write_penn(tmp_path / "0001.mat", rng, "tennis_serve", 1)
    write_penn(tmp_path / "0002.mat", rng, "baseball_pitch", -1, t=3)
    ds = load(tmp_path)
    assert ds.layout == "penn13" and ds.names == ["0001", "0002"]
    assert ds.labels.tolist() == [14, 0] and ds.classes[14] == "tennis_serve"
    assert ds.split["train"].tolist() == [0] and ds.split["test"].tolist() == [1]
    x, _ = ds[0]
    assert x.shape == (1, 10, 13, 2)
    np.testing.assert_array_equal(np.isnan(x[0]).any(-1), vis == 0)
    np.testing.assert_allclose(x[0][vis == 1], xy[vis == 1].astype(np.float32))
    assert ds.meta["view"].tolist() == ["front", "front"] and ds.meta["image_size"][0] == (360, 480)
    coco = ds.to_layout("coco17")
    assert coco.layout == "coco17" and coco[0][0].shape == (1, 10, 17, 2)
    write_penn(tmp_path / "0003.mat", rng, "dancing")
    with pytest.raises(ValueError, match="0003.mat.*dancing"):
        load(tmp_path)


def test_npy_formats(tmp_path, rng):
    batch = rng.normal(size=(3, 2, 40, 25, 3)).astype(np.float32)
    batch[0, :, 30:] = 0  # zero-padded frames at the end
    batch[1, 1] = 0  # absent second person
    np.save(tmp_path / "b.npy", batch)
    ds = load(tmp_path / "b.npy", labels=[1, 2, 3])
    assert len(ds) == 3 and ds.layout == "ntu25" and ds.labels.tolist() == [1, 2, 3]
    assert ds[0][0].shape == (2, 30, 25, 3) and ds[1][0].shape == (2, 40, 25, 3)
    assert np.isnan(ds[1][0][1]).all()
    assert len(pickle.dumps(ds)) < 10_000  # the memory map is reopened, not pickled with its content
    np.save(tmp_path / "nctvm.npy", batch.transpose(0, 4, 2, 3, 1))  # 2s-AGCN / CTR-GCN data_joint.npy
    assert_same(load(tmp_path / "nctvm.npy", input_format="NCTVM")[2][0], ds[2][0])
    np.save(tmp_path / "h36m.npy", rng.normal(size=(50, 17, 3)))
    with pytest.raises(ValueError, match="ambiguous.*layout="):
        load(tmp_path / "h36m.npy")
    assert load(tmp_path / "h36m.npy", layout="h36m17")[0][0].shape == (1, 50, 17, 3)
    folder = tmp_path / "seqs"
    folder.mkdir()
    for i, t in enumerate([5, 9]):
        np.save(folder / f"clip{i}.npy", rng.normal(size=(t, 18, 2)))
    fds = load(folder)
    assert fds.layout == "openpose18" and fds.names == ["clip0", "clip1"] and fds[1][0].shape == (1, 9, 18, 2)


def test_load_rejects_bad_input(tmp_path):
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(ValueError, match=r"x\.csv.*\.csv"):
        load(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError, match="nope"):
        load(tmp_path / "nope.npy")
    with pytest.raises(TypeError, match="path"):
        load(3)
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.mat").write_bytes(b"")
    with pytest.raises(ValueError, match="one kind"):
        load(tmp_path)
    with pytest.raises(ValueError, match="a.json"):
        load(tmp_path / "a.json")
    with pytest.raises(ValueError, match=r"sequences\[1\].*\(5, 25\)"):
        SkeletonDataset([np.zeros((5, 25, 3)), np.zeros((5, 25))])
    with pytest.raises(ValueError, match="layout 'coco17' has 17 joints.*V=25"):
        SkeletonDataset([np.zeros((5, 25, 3))], layout="coco17")


# ---------------------------------------------------------------------------------------------------------
# the dataset, batching, embedding
# ---------------------------------------------------------------------------------------------------------
def small_dataset(rng) -> SkeletonDataset:
    seqs = [rng.normal(size=(m, t, 20, 3)).astype(np.float32) for m, t in [(1, 8), (2, 15), (1, 3), (1, 11)]]
    return SkeletonDataset(
        seqs, [0, 1, 0, 2], ["a", "b", "c", "d"], split={"train": [0, 1, 3], "test": ["c"]}
    )


def test_subset_keeps_labels_names_and_renumbers_splits(rng):
    ds = small_dataset(rng)
    assert ds.layout == "kinect20" and ds.num_classes == 3
    sub = ds.subset([3, 1, 2])
    assert sub.names == ["d", "b", "c"] and sub.labels.tolist() == [2, 1, 0]
    assert sub.split["train"].tolist() == [0, 1] and sub.split["test"].tolist() == [2]
    assert_same(sub[0][0], ds[3][0])
    assert ds.subset("test").names == ["c"]
    assert ds.subset(np.array([True, False, False, True])).names == ["a", "d"]
    with pytest.raises(ValueError, match="no split named 'val'.*test.*train"):
        ds.subset("val")


def test_collate_pads_with_nan_and_embeds_like_items(rng):
    ds = small_dataset(rng)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate)
    x, lengths, labels = next(iter(loader))
    assert (
        x.shape == (4, 2, 15, 20, 3)
        and lengths.tolist() == [8, 15, 3, 11]
        and labels.tolist() == [0, 1, 0, 2]
    )
    assert torch.isnan(x[0, :, 8:]).all() and torch.isnan(x[0, 1]).all() and not torch.isnan(x[1]).any()
    torch.manual_seed(0)
    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20"))
    np.testing.assert_allclose(enc.embed(x, device="cpu"), enc.embed(ds, device="cpu"), atol=1e-5)
    xp, yp = PrepareCollate(enc.config)([ds[i] for i in range(4)])
    assert xp.shape == (4, 2, 32, 20, 3) and yp.tolist() == [0, 1, 0, 2]


# ---------------------------------------------------------------------------------------------------------
# real data (../shared/data)
# ---------------------------------------------------------------------------------------------------------
@functools.cache
def _real(path: str) -> SkeletonDataset:
    return load(path)


def test_real_nwucla(shared_data):
    ds = _real(str(shared_data / "nw-ucla" / "all_sqe"))
    assert len(ds) == 1484 and ds.layout == "kinect20" and ds.num_classes == 10
    assert len(ds.split["train"]) == 1020 and len(ds.split["test"]) == 464
    assert set(ds.meta["view"][ds.split["test"]]) == {3}
    assert np.bincount(ds.labels).tolist() == [150, 152, 141, 173, 148, 149, 142, 142, 145, 142]
    # a label is the position of the action id in (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
    assert all(sd._NWUCLA_ACTION_IDS[y] == a for y, a in zip(ds.labels, ds.meta["action"], strict=True))
    i = ds.names.index("a02_s09_e04_v03")
    x, y = ds[i]
    assert x.shape == (1, 1, 20, 3) and y == 1 and np.isfinite(x).all()
    lengths = [ds[j][0].shape[1] for j in range(len(ds))]
    assert (min(lengths), max(lengths)) == (1, 201)
    z = np.concatenate([ds[j][0][0, :, :, 2].ravel() for j in range(0, len(ds), 50)])
    assert 1.5 < np.nanmedian(z) < 4.0  # metres from the camera


def test_real_penn_action(shared_data):
    root = shared_data / "penn-action" / "labels"
    ds = _real(str(root))
    assert len(ds) == 2326 and ds.layout == "penn13" and ds.num_classes == 15
    assert len(ds.split["train"]) == 1258 and len(ds.split["test"]) == 1068
    assert ds.classes[ds.labels[0]] == "baseball_pitch"
    raw = loadmat(root / "0001.mat")
    x, _ = ds[0]
    assert x.shape == (1, raw["x"].shape[0], 13, 2)
    np.testing.assert_array_equal(np.isnan(x[0]).any(-1), raw["visibility"] == 0)  # invisible joints are NaN
    assert np.isnan(x).any() and np.isfinite(x[0][raw["visibility"] == 1]).all()
    # penn13 joint 1 is the person's RIGHT shoulder: in front views it lies left of joint 2 in the image
    # (README: 87 % of frames; measured here 96.8 %), in back views right of it (README 85 %, here 81.7 %)
    frac = {}
    for view in ("front", "back"):
        right_is_left = total = 0
        for j in np.flatnonzero(ds.meta["view"] == view):
            s = ds[j][0][0]
            r, l = s[:, 1, 0], s[:, 2, 0]
            both = np.isfinite(r) & np.isfinite(l)
            right_is_left += int((r[both] < l[both]).sum())
            total += int(both.sum())
        frac[view] = right_is_left / total
    assert frac["front"] > 0.85 and 1 - frac["back"] > 0.75, frac


def test_real_data_embeds(shared_data):
    ucla = _real(str(shared_data / "nw-ucla" / "all_sqe"))
    pick = list(range(0, len(ucla), 100)) + [ucla.names.index("a02_s09_e04_v03")]
    torch.manual_seed(0)
    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20"))
    z = enc.embed(ucla.subset(pick), device="cpu")
    assert z.shape == (len(pick), enc.embed_dim) and np.isfinite(z).all()
    penn = _real(str(shared_data / "penn-action" / "labels"))
    sub = penn.subset(penn.split["test"][::80])
    enc2 = SLiMEncoder(SLiMConfig.tiny(layout="penn13", in_channels=2, normalize_scale=True))
    z2 = enc2.embed(sub, device="cpu")
    assert z2.shape == (len(sub), enc2.embed_dim) and np.isfinite(z2).all()
    assert np.linalg.matrix_rank(z2) > 1  # different sequences, different embeddings
