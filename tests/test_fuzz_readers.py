"""Fuzzing the readers with byte-level corruptions of real files.

Seeds are real files from ``../shared/data`` (an NW-UCLA ``.json``, a Penn Action ``.mat``) and files of the
other formats written from real NW-UCLA sequences (``.npy``, CTR-GCN ``.npz`` stored and compressed, pyskl
``.pkl``, NTU ``.skeleton`` text). Each example flips bits, truncates, inserts, deletes, overwrites or
duplicates bytes of one seed, then ``slimkit.data.load`` reads it and every item is materialised. The property:
either every item is a float32 ``(M, T, V, C)`` array whose values are finite or NaN (never inf) and every
label is ``>= -1``, or the reader raises ``ValueError`` / ``TypeError`` whose message names the file. Any other
exception (``IndexError``, ``EOFError``, ``BadZipFile``, ``UnpicklingError``, ...) fails the test.
2,000 examples by default, 20,000 with ``pytest --fuzz-long``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slimkit import data


def _ntu_text(seqs: list[np.ndarray]) -> str:
    """An NTU ``.skeleton`` text holding real kinect20 motion (joints 20..24 repeat the hands)."""
    x = seqs[0][0][:12]  # (T, 20, 3)
    j25 = np.concatenate([x, x[:, [7, 7, 11, 11, 2]]], axis=1)
    lines = [str(len(j25))]
    for frame in j25:
        lines += ["1", "72057594037931101 0 1 1 1 1 0 0.1 0.2 2", "25"]
        lines += [f"{a:.5f} {b:.5f} {c:.5f} 1 1 1 1 0 0 0 0 2" for a, b, c in frame]
    return "\n".join(lines) + "\n"


@pytest.fixture
def seeds(shared_data, tmp_path_factory) -> dict[str, bytes]:
    """Suffix -> bytes of a real (or real-derived) file of that format."""
    root = tmp_path_factory.mktemp("seeds")
    ucla = sorted((shared_data / "nw-ucla" / "all_sqe").glob("*.json"))[:2]
    penn = sorted((shared_data / "penn-action" / "labels").glob("*.mat"), key=lambda p: p.stat().st_size)[0]
    ds = data.load(ucla[0])
    seqs = [data.load(f)[0][0] for f in ucla]  # (1, T, 20, 3) each
    out = {".json": ucla[0].read_bytes(), ".mat": penn.read_bytes()}
    np.save(root / "s.npy", np.nan_to_num(seqs[0])[:, :16])
    out[".npy"] = (root / "s.npy").read_bytes()
    t = 16
    rows = np.zeros((2, t, 150), np.float32)
    for i, s in enumerate(seqs):
        j25 = np.concatenate([s[0, :t], s[0, :t, :5]], axis=1)  # 25 joints of real coordinates
        rows[i, :, :75] = np.nan_to_num(j25).reshape(t, 75)
    np.savez(root / "a.npz", x_train=rows, y_train=np.eye(2))
    out[".npz"] = (root / "a.npz").read_bytes()
    np.savez_compressed(root / "c.npz", x_train=rows, y_train=np.eye(2))
    out[".npz/compressed"] = (root / "c.npz").read_bytes()
    data.write_pyskl(root / "p.pkl", [s[:, :16] for s in seqs], labels=[0, 1], layout=ds.layout)
    out[".pkl"] = (root / "p.pkl").read_bytes()
    out[".skeleton"] = _ntu_text(seqs).encode()
    for suffix, raw in out.items():  # every seed is readable as it is
        path = root / ("seed" + suffix.split("/")[0])
        path.write_bytes(raw)
        _check_items(data.load(path))
    return out


def _check_items(ds) -> None:
    assert len(ds) >= 1
    for i in range(len(ds)):
        x, y = ds[i]
        assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 4, (type(x), x.dtype, x.shape)
        assert not np.isinf(x).any()
        assert int(y) >= -1


@st.composite
def corruptions(draw, names: list[str]):
    name = draw(st.sampled_from(names))
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "delete", "overwrite", "duplicate"]))
        # half the positions near the start, where the headers are
        where = draw(st.one_of(st.floats(0, 0.02), st.floats(0, 1)))
        ops.append((kind, where, draw(st.integers(0, 7)), draw(st.integers(1, 64)), draw(st.binary(max_size=16))))
    return name, ops


def corrupt(raw: bytes, ops) -> bytes:
    b = bytearray(raw)
    for kind, where, bit, span, blob in ops:
        if not b:
            break
        pos = min(int(where * len(b)), len(b) - 1)
        if kind == "flip":
            b[pos] ^= 1 << bit
        elif kind == "truncate":
            del b[pos:]
        elif kind == "insert":
            b[pos:pos] = blob or b"\x00"
        elif kind == "delete":
            del b[pos : pos + span]
        elif kind == "overwrite":
            b[pos : pos + len(blob)] = blob
        else:
            b[pos:pos] = b[pos : pos + span]
    return bytes(b)


def test_fuzz_readers_with_corrupted_real_files(seeds, tmp_path, request):
    n_examples = 20_000 if request.config.getoption("--fuzz-long") else 2_000
    outcomes: dict[str, list[bool]] = {k: [] for k in seeds}

    @settings(max_examples=n_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(corruptions(sorted(seeds)))
    def run(params):
        name, ops = params
        path = tmp_path / ("fuzzed" + name.split("/")[0])
        path.write_bytes(corrupt(seeds[name], ops))
        try:
            ds = data.load(path)
            _check_items(ds)
        except (ValueError, TypeError) as e:
            assert str(path) in str(e), f"{type(e).__name__} does not name the file: {e}"
            outcomes[name].append(False)
            return
        outcomes[name].append(True)

    run()
    # every format was exercised, and on both paths overall (a corruption is not always fatal: a flipped bit in
    # a coordinate is still a valid file), or the fuzzer proves nothing
    assert all(len(v) >= 50 for v in outcomes.values()), {k: len(v) for k, v in outcomes.items()}
    flat = [o for v in outcomes.values() for o in v]
    assert 0 < sum(flat) < len(flat)
    summary = {k: f"{sum(v)}/{len(v)} read" for k, v in outcomes.items()}
    print(json.dumps(summary))


def test_corrupt_helper_really_changes_bytes():
    raw = bytes(range(100))
    assert corrupt(raw, [("flip", 0.5, 3, 1, b"")])[50] == 50 ^ 8
    assert corrupt(raw, [("truncate", 0.1, 0, 1, b"")]) == raw[:10]
    assert corrupt(raw, [("duplicate", 0.0, 0, 4, b"")])[:8] == bytes([0, 1, 2, 3, 0, 1, 2, 3])


def test_seed_paths_exist(shared_data):
    assert Path(shared_data / "nw-ucla" / "all_sqe").is_dir() and Path(shared_data / "penn-action" / "labels").is_dir()
