"""The shared helpers of slimkit._utils and slimkit._arrays: each property would fail if the helper were wrong."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from slimkit._arrays import mark_missing, missing_joints, nan_lerp, pad_persons, pad_time
from slimkit._utils import (
    atomic_dir,
    atomic_path,
    atomic_write_text,
    check_number,
    check_positive_int,
    default_device,
    warmup_cosine,
    world_size,
)


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "sub" / "f.txt"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert sorted(os.listdir(p.parent)) == ["f.txt"]
    mode = os.stat(p).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # the umask's mode, not mkstemp's 0600


def test_atomic_path_keeps_old_file_when_the_writer_fails(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert p.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]


def test_atomic_dir_replaces_folder_or_keeps_it(tmp_path):
    d = tmp_path / "model"
    with atomic_dir(d) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(KeyError), atomic_dir(d) as tmp:
        (tmp / "b").write_text("2")
        raise KeyError("x")
    assert sorted(os.listdir(d)) == ["a"]
    with atomic_dir(d) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(os.listdir(d)) == ["b"]
    assert sorted(os.listdir(tmp_path)) == ["model"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3", None])
def test_check_positive_int_names_the_argument(bad):
    with pytest.raises(ValueError, match=r"^batch_size: expected a positive int, got"):
        check_positive_int(bad, "batch_size")


def test_check_positive_int_and_number_accept_valid_values():
    assert check_positive_int(np.int64(3), "k") == 3
    with pytest.raises(ValueError, match=r"^n: expected an int >= 2, got 1$"):
        check_positive_int(1, "n", minimum=2)
    assert check_number(0.5, "p", 0, 1) == 0.5
    for bad in (float("nan"), 2, True):
        with pytest.raises(ValueError, match="^p: "):
            check_number(bad, "p", 0, 1)


def test_warmup_cosine_known_values():
    assert warmup_cosine(0, 100, 10, 1.0) == 0.0
    assert warmup_cosine(0, 100, 10, 1.0, warmup_start=1) == pytest.approx(1 / 11)
    assert warmup_cosine(5, 100, 10, 2.0) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10, 1.0, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, 1.0, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert warmup_cosine(100, 100, 10, 1.0, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(500, 100, 10, 1.0, 0.1) == pytest.approx(0.1)


def test_default_device_and_world_outside_a_process_group():
    assert default_device("cpu") == torch.device("cpu")
    assert default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert world_size() == 1


def test_missing_joints_same_in_numpy_and_torch():
    a = np.ones((2, 3, 3), dtype=np.float32)
    a[0, 1] = 0.0
    a[1, 2, 0] = np.nan
    want = np.array([[False, True, False], [False, False, True]])
    np.testing.assert_array_equal(missing_joints(a), want)
    np.testing.assert_array_equal(missing_joints(torch.from_numpy(a)).numpy(), want)
    b = mark_missing(a.copy())
    assert np.isnan(b[0, 1]).all() and np.isnan(b[1, 2]).all() and np.isfinite(b[0, 0]).all()


def test_pad_persons_and_time():
    s1 = np.ones((1, 4, 2, 3), dtype=np.float32)
    s2 = np.full((2, 6, 2, 3), 2.0, dtype=np.float32)
    x, lengths = pad_time([s1, s2])
    assert x.shape == (2, 2, 6, 2, 3) and lengths.tolist() == [4, 6]
    assert np.isnan(x[0, 1]).all() and np.isnan(x[0, 0, 4:]).all() and (x[0, 0, :4] == 1).all()
    assert (x[1] == 2).all()
    assert pad_persons(s1, 3).shape == (3, 4, 2, 3) and np.isnan(pad_persons(s1, 3)[1:]).all()
    assert pad_persons(s2, 1).shape == (1, 6, 2, 3)
    with pytest.raises(ValueError, match="^seqs: "):
        pad_time([])


def test_nan_lerp_numpy_matches_torch_and_reference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 4, 3))
    b = rng.normal(size=(5, 4, 3))
    a[0, 0] = np.nan
    b[1, 1] = np.nan
    a[2, 2] = b[2, 2] = np.nan
    w = rng.uniform(size=(5, 1, 1))
    out = nan_lerp(a, b, w)
    np.testing.assert_allclose(out[0, 0], b[0, 0])
    np.testing.assert_allclose(out[1, 1], a[1, 1])
    assert np.isnan(out[2, 2]).all()
    np.testing.assert_allclose(out[3], (1 - w[3]) * a[3] + w[3] * b[3])
    t = nan_lerp(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(w)).numpy()
    np.testing.assert_allclose(t, out, equal_nan=True)
    assert not math.isnan(float(out[4, 0, 0]))


def test_atomic_path_fails_when_the_writer_leaves_no_file(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"old")
    with pytest.raises(FileNotFoundError), atomic_path(p) as tmp:
        tmp.unlink()
    assert p.read_bytes() == b"old"
