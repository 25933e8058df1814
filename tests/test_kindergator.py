"""Kinder-Gator Kinect v1 CSV reader: small files in the original format, and the real set when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slimkit.data import load
from slimkit.data.kindergator import KINDER_GATOR_CLASSES, KINECT_V1_CSV_JOINTS, read_kinder_gator
from slimkit.layouts import get_layout

HEADER = "Timestamp," + ",".join(f"{j}{a}" for j in KINECT_V1_CSV_JOINTS for a in "XYZ") + ",User-ID,Action,"


def write_csv(path: Path, joints: np.ndarray, user: int, action: str) -> None:
    """The Kinder-Gator layout: header, then timestamp, 60 coordinates, user id, action and a trailing comma."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [HEADER]
    for t, frame in enumerate(joints):
        coords = ",".join(f"{v:.7g}" for v in frame.reshape(-1))
        rows.append(f"{36794471.6 + 33.3 * t:.4f},{coords},{user},{action},")
    path.write_text("\n".join(rows) + "\n")


def body(rng: np.random.Generator, t: int) -> np.ndarray:
    return (rng.normal(size=(1, 20, 3)) * 0.3 + rng.normal(scale=0.01, size=(t, 20, 3)) + [0, 0, 3]).astype(
        np.float32
    )


@pytest.fixture
def small_set(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict[str, np.ndarray]]:
    arrays = {}
    for folder, pid, order, motion, t in [
        ("Adults", "p565", 1, "Raise-your-hand", 12),
        ("Adults", "p565", 53, "Throw-a-ball-", 7),  # the real files' trailing hyphen
        ("Adults", "p577", 2, "Raise-your-hand", 9),
        ("Children", "p103", 1, "Wave-your-other-hand", 5),
        ("Children", "p290", 4, "Raise-your-hand", 6),
    ]:
        a = body(rng, t)
        a[2, 7] = 0.0  # an untracked hand: all zero
        name = f"POSE-{pid}_{order:02d}-{motion}-14691824{order:05d}"
        write_csv(tmp_path / folder / f"{name}.csv", a, int(pid[1:]), motion)
        arrays[name] = a
    return tmp_path, arrays


def test_reads_values_labels_and_a_cross_subject_split(small_set):
    root, arrays = small_set
    ds = load(root)  # the root holds only Adults/ and Children/: found below
    assert ds.layout == "kinect20" and len(ds) == 5
    assert sorted(ds.names) == sorted(arrays)
    for i, name in enumerate(ds.names):
        seq, label = ds[i]
        want = arrays[name]
        assert seq.shape == (1, len(want), 20, 3)
        assert np.isnan(seq[0, 2, 7]).all()  # all-zero joint -> missing
        np.testing.assert_allclose(np.nan_to_num(seq[0]), want, rtol=1e-6, atol=1e-6)
        motion = name.split("-", 2)[2].rsplit("-", 1)[0]
        assert ds.classes[label] == " ".join(w for w in motion.split("-") if w)
    assert ds.classes == list(KINDER_GATOR_CLASSES)
    assert "Throw a ball" in {ds.classes[lab] for lab in ds.labels}
    pid = ds.meta["participant"]
    # participants 103, 290, 565, 577 sorted: 103 and 565 train, 290 and 577 test
    assert sorted(set(pid[ds.split["train"]])) == [103, 565]
    assert sorted(set(pid[ds.split["test"]])) == [290, 577]
    assert {g for g, p in zip(ds.meta["group"], pid, strict=True) if p < 500} == {"child"}
    assert {g for g, p in zip(ds.meta["group"], pid, strict=True) if p > 500} == {"adult"}


def test_one_file_and_one_folder(small_set):
    root, arrays = small_set
    one = load(next((root / "Children").glob("*.csv")))
    assert len(one) == 1 and one[0][0].shape[2] == 20
    adults = read_kinder_gator(root / "Adults")
    assert len(adults) == 3 and set(adults.meta["group"]) == {"adult"}


def test_malformed_files_name_the_file_and_line(tmp_path, rng):
    f = tmp_path / "POSE-p1_01-Jump-1.csv"
    write_csv(f, body(rng, 4), 1, "Jump")
    lines = f.read_text().splitlines()
    lines[3] = lines[3].replace(",", ",abc,", 1)  # line 4 of the file: a word where a number belongs
    f.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"POSE-p1_01-Jump-1\.csv: line 4: column 2: expected a number"):
        load(f)[0]
    lines[0] = lines[0].replace("ElbowLeftX", "ElbowX")
    f.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"POSE-p1_01-Jump-1\.csv: line 1: .*ElbowLeftX"):
        load(f)[0]
    g = tmp_path / "trial.csv"
    g.write_text(HEADER + "\n")
    with pytest.raises(ValueError, match="trial.csv: expected a Kinder-Gator file name"):
        load(g)


def test_real_kinder_gator(shared_data):
    ds = load(shared_data / "kinder-gator")
    assert len(ds) == 927 and ds.num_classes == 58 and ds.layout == "kinect20"
    assert len(set(ds.meta["participant"])) == 16
    assert np.bincount(ds.labels, minlength=58).min() >= 15  # p565 misses one motion
    train = sorted(set(ds.meta["participant"][ds.split["train"]]))
    assert train == [103, 290, 565, 595, 644, 876, 921, 970]
    assert len(ds.split["train"]) + len(ds.split["test"]) == 927
    lay = get_layout("kinect20")
    for i in range(0, 927, 93):  # ten files spread over both folders
        seq, _ = ds[i]
        path = next((shared_data / "kinder-gator").rglob(ds.names[i] + ".csv"))
        rows = [ln for ln in path.read_text().splitlines()[1:] if ln.strip()]
        assert seq.shape == (1, len(rows), 20, 3)
        # metres in the camera frame, the person in front of it; left joints on the same side as NW-UCLA's
        assert 1.0 < np.nanmedian(seq[..., 2]) < 4.5
        left, right = lay.index("l_shoulder"), lay.index("r_shoulder")
        assert np.nanmedian(seq[0, :, left, 0] - seq[0, :, right, 0]) < 0
