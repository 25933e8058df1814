"""Hostile and broken files: no code execution, no silent wrong data, no crash without a clear message.

Each test builds its hostile file itself (issue 12 lists the items; the number is in each test's docstring).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from slimkit import data
from slimkit.cli import main as cli_main


class _Pwn:
    """Unpickling an instance runs ``touch <marker>`` (the classic ``__reduce__`` attack)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_pkl(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    kp = np.ones((1, 4, 25, 3), np.float32)
    payload = {"annotations": [{"frame_dir": "a", "label": 0, "keypoint": kp, "x": _Pwn(marker)}]}
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=4))
    return path, marker


# ---- 1. pickle --------------------------------------------------------------------------------------------
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    """Item 1: a pyskl file whose object's __reduce__ calls os.system is refused before anything runs."""
    path, marker = _malicious_pkl(tmp_path)
    for read in (data.load, data.read_pyskl):
        with pytest.raises(ValueError) as e:
            read(path)
        msg = str(e.value)
        assert str(path) in msg and "system" in msg and "trust_pickle=True" in msg and "--trust-pickle" in msg
        assert not marker.exists()


@pytest.mark.parametrize("command", ["embed", "pretrain", "evaluate", "search"])
def test_malicious_pickle_is_refused_by_every_cli_command(tmp_path, capsys, command):
    """Item 1: every CLI command that reads data refuses the malicious pickle with one line and exit 1."""
    path, marker = _malicious_pkl(tmp_path)
    model = tmp_path / "model"
    from slimkit import SLiMConfig, SLiMEncoder

    SLiMEncoder(SLiMConfig.tiny()).save_pretrained(model)
    argv = {
        "embed": ["embed", str(path), "-m", str(model), "-o", str(tmp_path / "e.npy"), "--device", "cpu"],
        "pretrain": ["pretrain", str(path), "-o", str(tmp_path / "run"), "--preset", "tiny", "--max-steps", "1"],
        "evaluate": ["evaluate", str(path), "--test", str(path), "-m", str(model), "--device", "cpu"],
        "search": ["search", str(tmp_path / "i.slimidx"), "--queries", str(path), "-m", str(model)],
    }[command]
    if command == "search":
        from slimkit import Retriever

        r = Retriever(64, device="cpu")
        r.add(np.eye(64, dtype=np.float32)[:3])
        r.save(tmp_path / "i.slimidx")
    assert cli_main(argv) == 1
    err = capsys.readouterr().err.strip()
    # one error line (progress lines such as "reading X ..." may come before it)
    errors = [line for line in err.splitlines() if "error:" in line]
    assert "--trust-pickle" in err and "Traceback" not in err and len(errors) == 1
    assert not marker.exists()


def test_trust_pickle_opt_in_really_unpickles(tmp_path):
    """Item 1: the documented opt-in uses the plain unpickler (so the refusal above is the only guard)."""
    path, marker = _malicious_pkl(tmp_path)
    ds = data.load(path, trust_pickle=True)
    assert marker.exists() and len(ds) == 1


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_pyskl_files_still_load(tmp_path, rng, protocol):
    """Item 1: write_pyskl output and an mmaction2-style float16 3-D file (numpy scalars, any protocol) load."""
    seqs = [rng.normal(size=(1, 6, 25, 3)).astype(np.float32) + 0.1 for _ in range(3)]
    out = data.write_pyskl(tmp_path / "w.pkl", seqs, labels=[0, 1, 2], split={"train": [0, 1], "val": [2]})
    back = data.load(out)
    assert len(back) == 3 and back.split["val"] == [2]
    np.testing.assert_array_equal(back[1][0], seqs[1])

    anns = [
        {
            "frame_dir": f"S001C001P001R001A{i + 1:03d}",
            "label": np.int64(i),
            "total_frames": np.int64(6),
            "keypoint": s.astype(np.float16),
            "img_shape": (1080, 1920),
        }
        for i, s in enumerate(seqs)
    ]
    f16 = tmp_path / "ntu3d.pkl"
    f16.write_bytes(pickle.dumps({"split": {"xsub_train": ["S001C001P001R001A001"]}, "annotations": anns},
                                 protocol=protocol))
    ds = data.read_pyskl(f16)
    assert ds.layout == "ntu25" and ds.labels.tolist() == [0, 1, 2] and ds.split["xsub_train"] == [0]
    x = ds[2][0]
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, seqs[2].astype(np.float16).astype(np.float32))


# ---- retriever: 2 (k), 3 (orphans), 6 (large vectors), 10 (header checksum) ---------------------------------
def test_huge_k_is_clamped_to_the_index_size():
    """Item 2: search(q, k=10**9) on a 3-item index returns 3 hits instead of allocating 10**9 slots."""
    from slimkit import Retriever

    r = Retriever(4, device="cpu")
    r.add(np.eye(4, dtype=np.float32)[:3], ids=[7, 8, 9])
    res = r.search(np.ones((2, 4), np.float32), k=10**9)
    assert res.ids.shape == (2, 3) and sorted(res.ids[0].tolist()) == [7, 8, 9]


def test_failed_add_leaves_no_orphan_vector(tmp_path):
    """Item 3: an add that fails (id 2**63 overflows int64) adds nothing; later ids stay right after a reload."""
    from slimkit import Retriever

    for index in ("flat", "hnsw"):
        r = Retriever(4, index=index, device="cpu")
        r.add(np.eye(4, dtype=np.float32)[:2], ids=[0, 1])
        with pytest.raises(ValueError, match=r"ids: expected ints < 2\*\*63"):
            r.add(np.eye(4, dtype=np.float32)[2:3], ids=[2**63])
        with pytest.raises(ValueError, match="labels: expected int labels that fit in int64"):
            r.add(np.eye(4, dtype=np.float32)[2:3], ids=[5], labels=[2**64])
        assert r.faiss_index.ntotal == 2 and len(r) == 2
        r.add(np.eye(4, dtype=np.float32)[3:4], ids=[3])
        r.save(tmp_path / "r.slimidx")
        r2 = Retriever.load(tmp_path / "r.slimidx")
        for row, want in ((0, 0), (1, 1), (3, 3)):
            assert r2.search(np.eye(4, dtype=np.float32)[row], k=1).ids[0, 0] == want


def test_add_rolls_back_when_faiss_fails_midway(monkeypatch):
    """Item 3: a FAISS failure in the second batch removes the first batch's vectors too."""
    from slimkit import Retriever

    r = Retriever(4, device="cpu")
    real, calls = r.faiss_index.add_with_ids, []

    def flaky(x, keys):
        calls.append(len(keys))
        if len(calls) == 2:
            raise MemoryError("simulated")
        return real(x, keys)

    monkeypatch.setattr(r.faiss_index, "add_with_ids", flaky)
    with pytest.raises(MemoryError):
        r.add(np.random.default_rng(0).normal(size=(6, 4)), batch_size=3)
    assert r.faiss_index.ntotal == 0 and len(r) == 0 and calls == [3, 3]


def test_load_refuses_an_index_whose_vectors_and_ids_disagree(tmp_path):
    """Item 3: a file written with an orphan vector (by an older slimkit) is refused on load, not misread."""
    import faiss

    from slimkit import Retriever

    r = Retriever(4, device="cpu")
    r.add(np.eye(4, dtype=np.float32)[:2], ids=[10, 11])
    r.faiss_index.add_with_ids(np.eye(4, dtype=np.float32)[2:3], np.array([2], dtype=np.int64))  # the orphan
    r.save(tmp_path / "orphan.slimidx")
    with pytest.raises(ValueError, match="orphan.slimidx: inconsistent: the FAISS index holds 3 vectors"):
        Retriever.load(tmp_path / "orphan.slimidx")
    assert faiss  # the index file was written by faiss itself


def test_large_vectors_are_normalised_not_zeroed():
    """Item 6: [1e30, 2e30, 0, 0] is stored as its unit vector (float32 norm overflow made it 0)."""
    from slimkit import Retriever

    r = Retriever(4, device="cpu")
    r.add(np.array([[1e30, 2e30, 0, 0], [0, 0, 1e-30, 0]], dtype=np.float32))
    stored = r.faiss_index.index.reconstruct_n(0, 2)
    np.testing.assert_allclose(stored[0], [1 / 5**0.5, 2 / 5**0.5, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(stored[1], [0, 0, 1, 0], rtol=1e-6)  # tiny but not zero: normalisable too
    res = r.search(np.array([1e300, 2e300, 0, 0]), k=1)  # float64 beyond float32's range
    assert res.ids[0, 0] == 0 and abs(res.scores[0, 0] - 1) < 1e-6
    with pytest.raises(ValueError, match="zero norm"):
        r.add(np.zeros((1, 4)))
    l2 = Retriever(4, metric="l2", device="cpu")
    with pytest.raises(ValueError, match="squared distances would overflow float32"):
        l2.add(np.array([[1e30, 0, 0, 0]]))


def _flip(path: Path, offset: int, bit: int = 0) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 1 << bit
    path.write_bytes(bytes(raw))


def test_retriever_header_bit_flips_are_detected(tmp_path):
    """Item 10: every single-bit flip in the header (dim included) is refused on load."""
    from slimkit import Retriever

    r = Retriever(8, device="cpu")
    r.add(np.random.default_rng(0).normal(size=(5, 8)))
    path = tmp_path / "h.slimidx"
    r.save(path)
    raw = path.read_bytes()
    hlen = int.from_bytes(raw[18:26], "little")
    start = raw.index(b'"dim": 8')
    assert 58 <= start < 58 + hlen
    for offset in [*range(18, 58), *range(start, start + 8), *range(58, 58 + hlen, 7)]:
        for bit in (0, 3, 6):
            path.write_bytes(raw)
            _flip(path, offset, bit)
            with pytest.raises(ValueError, match=r"h\.slimidx: "):
                Retriever.load(path)
    path.write_bytes(raw)
    assert len(Retriever.load(path)) == 5


# ---- 5. non-finite weights ------------------------------------------------------------------------------------
def _tiny_model(folder: Path) -> Path:
    import torch

    from slimkit import SLiMConfig, SLiMEncoder

    torch.manual_seed(0)
    SLiMEncoder(SLiMConfig.tiny()).save_pretrained(folder)
    return folder


def test_nan_weights_are_refused_on_load(tmp_path, capsys):
    """Item 5: a model.safetensors holding NaN/inf is refused by from_pretrained and by `slimkit embed`."""
    from safetensors.torch import load_file, save_file

    from slimkit import SLiMEncoder

    model = _tiny_model(tmp_path / "m")
    state = load_file(str(model / "model.safetensors"))
    name = sorted(k for k, v in state.items() if v.is_floating_point())[3]
    state[name].view(-1)[0] = float("nan")
    save_file(state, str(model / "model.safetensors"))
    with pytest.raises(ValueError, match=f"model.safetensors: 1 tensors hold NaN or inf, e.g. \\['{name}'\\]"):
        SLiMEncoder.from_pretrained(model)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(2, 1, 8, 25, 3)).astype(np.float32))
    out = tmp_path / "e.npy"
    assert cli_main(["embed", str(tmp_path / "x.npy"), "-m", str(model), "-o", str(out), "--device", "cpu"]) == 1
    assert "NaN or inf" in capsys.readouterr().err and not out.exists()


def test_embed_raises_instead_of_returning_non_finite_rows(tmp_path):
    """Item 5: weights that turn non-finite after loading make embed() raise, not return NaN rows."""
    import torch

    from slimkit import SLiMEncoder

    enc = SLiMEncoder.from_pretrained(_tiny_model(tmp_path / "m"))
    with torch.no_grad():
        next(p for p in enc.parameters() if p.ndim == 2).fill_(float("inf"))
    x = np.random.default_rng(0).normal(size=(3, 1, 8, 25, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"embed: the encoder produced NaN or inf for rows \[0, 1, 2\]"):
        enc.embed(x, device="cpu")


# ---- 8, 9. resuming training --------------------------------------------------------------------------------
def _trainer(out: Path, **kw):
    from conftest import random_walk

    from slimkit import SLiMConfig, Trainer

    rng = np.random.default_rng(0)
    seqs = [random_walk(rng, 20, 25) for _ in range(8)]
    args = dict(epochs=2, batch_size=4, save_every=1, save_total_limit=None, num_workers=0,
                show_progress_bar=False, log_every=1)
    args.update(kw)
    return Trainer(SLiMConfig.tiny(num_frames=16), seqs, output_dir=out, **args)


@pytest.fixture(scope="module")
def three_checkpoints(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    _trainer(out, max_steps=3).fit()
    return out


@pytest.mark.parametrize("change", [dict(lr=1e-3), dict(weight_decay=0.1), dict(warmup_steps=7),
                                    dict(grad_clip=None), dict(lr=1e-3, grad_clip=0.5)])
def test_resume_with_changed_arguments_is_refused(three_checkpoints, tmp_path, change):
    """Item 8: fit() on an output_dir trained with another lr / weight decay / warm-up / clipping refuses."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(three_checkpoints, out)
    with pytest.raises(ValueError, match="checkpoint was trained with other arguments") as e:
        _trainer(out, max_steps=4, **change).fit()
    for k in change:
        assert f"{k}=" in str(e.value)
    assert not (out / "checkpoint-4").exists()


@pytest.mark.parametrize("damage", ["truncate model", "flip a bit in model", "truncate training_state",
                                    "garbage trainer_state"])
def test_corrupt_newest_checkpoint_falls_back_to_an_intact_one(three_checkpoints, tmp_path, damage):
    """Item 9: a damaged newest checkpoint (a single flipped bit too) is skipped with a warning naming it."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(three_checkpoints, out)
    newest = out / "checkpoint-3"
    name = {"truncate model": "model.safetensors", "flip a bit in model": "model.safetensors",
            "truncate training_state": "training_state.pt", "garbage trainer_state": "trainer_state.json"}[damage]
    f = newest / name
    raw = f.read_bytes()
    if damage.startswith("truncate"):
        f.write_bytes(raw[: len(raw) // 2])
    elif damage.startswith("flip"):
        _flip(f, len(raw) - 1000, 2)  # inside a tensor: the safetensors file still parses
    else:
        f.write_text("{not json")
    tr = _trainer(out, max_steps=3)
    with pytest.warns(UserWarning, match=f"skipping checkpoint {newest}: .*{name}"):
        tr.fit()
    assert tr.global_step == 3  # resumed at step 2 from checkpoint-2, then trained one step


def test_no_intact_checkpoint_is_an_error_naming_them(three_checkpoints, tmp_path):
    """Item 9: when every checkpoint is damaged, fit() refuses instead of silently starting over."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(three_checkpoints, out)
    for ck in out.glob("checkpoint-*"):
        _flip(ck / "teacher.safetensors", 200)
    with pytest.raises(ValueError, match="no intact checkpoint to resume from: checkpoint-3 .*checkpoint-1"), \
            pytest.warns(UserWarning):
        _trainer(out, max_steps=4).fit()


# ---- 2, 4. npz sizes, CRC, memory --------------------------------------------------------------------------
def _ctr_npz(path: Path, n: int = 4, t: int = 10, compressed: bool = False) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, t, 150)).astype(np.float32)
    y = np.eye(3)[np.arange(n) % 3]
    (np.savez_compressed if compressed else np.savez)(path, x_train=x, y_train=y)
    return x


def _npy_header_span(raw: bytes, name: bytes) -> int:
    """Offset of the .npy header dict of member ``name`` inside a stored .npz."""
    return raw.index(b"{'descr'", raw.index(name))


def test_npz_header_that_over_declares_rows_is_refused(tmp_path):
    """Item 4: a stored x_train whose header claims more rows than the entry holds is refused, not mapped."""
    path = tmp_path / "over.npz"
    _ctr_npz(path)
    raw = path.read_bytes()
    assert b"(4, 10, 150)" in raw
    path.write_bytes(raw.replace(b"(4, 10, 150)", b"(9, 10, 150)"))
    with pytest.raises(ValueError, match=r"over\.npz: x_train: the header declares shape \(9, 10, 150\)"):
        data.load(path)


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_bit_flip_in_the_data_is_detected_by_the_crc(tmp_path, compressed):
    """Item 4: a flipped bit inside x_train fails the zip CRC check (memory-mapped or not)."""
    path = tmp_path / "flip.npz"
    x = _ctr_npz(path, compressed=compressed)
    raw = path.read_bytes()
    if compressed:
        off = raw.index(b"x_train.npy") + 200  # inside the deflated data: CRC or inflate error
    else:
        off = raw.index(x[2].tobytes()[:16]) + 7
    path.write_bytes(raw[:off] + bytes([raw[off] ^ 0x10]) + raw[off + 1 :])
    with pytest.raises(ValueError, match=r"flip\.npz: x_train: (corrupted|cannot be read)"):
        data.load(path)


def test_truncated_and_garbage_npz_name_the_file(tmp_path, capsys):
    """Items 4, 11: truncated or garbage .npz -> ValueError naming the file; the CLI prints one line."""
    path = tmp_path / "t.npz"
    _ctr_npz(path)
    raw = path.read_bytes()
    for content in (raw[: len(raw) // 2], raw[:-30], b"PK\x03\x04" + os.urandom(300), b""):
        path.write_bytes(content)
        with pytest.raises(ValueError, match=r"t\.npz"):
            data.load(path)
    model = _tiny_model(tmp_path / "m")
    assert cli_main(["embed", str(path), "-m", str(model), "-o", str(tmp_path / "e.npy"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "t.npz" in err


def test_zip_bomb_npz_is_refused_before_inflating(tmp_path):
    """Item 2: a ~100 KB compressed .npz declaring 100 MB (ratio ~1000:1) is refused before it is inflated."""
    import resource

    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x_train=np.zeros((1000, 170, 150), np.float32), y_train=np.zeros(1000))
    assert path.stat().st_size < 1_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=r"bomb\.npz: x_train: declares 102000128 bytes compressed into"):
        data.load(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: nothing inflated


def test_real_npz_files_still_load_both_ways(tmp_path):
    """Items 2, 4: genuine np.savez / np.savez_compressed files load, memory-mapped when stored."""
    for compressed in (False, True):
        path = tmp_path / f"ok{compressed}.npz"
        x = _ctr_npz(path, compressed=compressed)
        ds = data.load(path)
        assert len(ds) == 4 and ds.labels.tolist() == [0, 1, 2, 0]
        np.testing.assert_array_equal(ds[1][0][0], x[1, :, :75].reshape(10, 25, 3))


def test_absurd_config_values_are_refused_naming_the_key(tmp_path, capsys):
    """Item 2: config.json with depth=10**6 or dim=10**9 is an error naming the key, before any allocation."""
    from slimkit import SLiMEncoder

    model = _tiny_model(tmp_path / "m")
    cfg = json.loads((model / "config.json").read_text())
    for key, value in (("depth", 10**6), ("dim", 10**9), ("num_frames", 10**9)):
        (model / "config.json").write_text(json.dumps({**cfg, key: value}))
        with pytest.raises(ValueError, match=f"config.json: {key}: expected at most"):
            SLiMEncoder.from_pretrained(model)
    (model / "config.json").write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(ValueError, match="config.json: not a config: JSON nested too deeply"):
        SLiMEncoder.from_pretrained(model)


# ---- 7. readers check what they read against what the file declares -------------------------------------------
def _ntu_file(path: Path, frames: int, declared: int | None = None, trailer: str = "") -> Path:
    rng = np.random.default_rng(1)
    lines = [str(frames if declared is None else declared)]
    for _ in range(frames):
        lines += ["1", "72057594037931101 0 1 1 1 1 0 0.1 0.2 2", "25"]
        for j in rng.normal(size=(25, 3)):
            lines.append(f"{j[0]:.4f} {j[1]:.4f} {j[2] + 3:.4f} 1 1 1 1 0 0 0 0 2")
    path.write_text("\n".join(lines) + "\n" + trailer)
    return path


def test_ntu_frame_count_and_trailing_garbage_are_checked(tmp_path):
    """Item 7: fewer declared frames than held, or trailing garbage, is refused naming the line."""
    ok = _ntu_file(tmp_path / "S001C001P001R001A001.skeleton", 5)
    assert data.load(ok)[0][0].shape == (1, 5, 25, 3)
    short = _ntu_file(tmp_path / "S001C001P001R001A002.skeleton", 5, declared=3)
    with pytest.raises(ValueError, match=r"A002\.skeleton: line 86: the file declares 3 frames"):
        data.load(short)
    trailing = _ntu_file(tmp_path / "S001C001P001R001A003.skeleton", 5, trailer="\n\ngarbage 1 2 3\n")
    with pytest.raises(ValueError, match=r"A003\.skeleton: line \d+: .*trailing garbage"):
        data.load(trailing)
    binary = tmp_path / "S001C001P001R001A004.skeleton"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    with pytest.raises(ValueError, match=r"A004\.skeleton: not a text \.skeleton file"):
        data.load(binary)


def test_nwucla_label_out_of_range_is_refused(tmp_path):
    """Item 7: NW-UCLA label 0 or 99 (1-based, 10 classes) is refused, not read as -1 or 98."""
    sk = (np.random.default_rng(0).normal(size=(4, 20, 3)) + 2).tolist()
    for label, action in ((1, "a01"), (10, "a12")):
        f = tmp_path / "ok" / f"{action}_s01_e01_v01.json"
        f.parent.mkdir(exist_ok=True)
        f.write_text(json.dumps({"file_name": f"{action}_s01_e01_v01", "label": label, "skeletons": sk}))
        assert data.load(f).labels.tolist() == [label - 1]
    for label in (0, 99, -3, 2.5, True, "3"):
        f = tmp_path / "bad.json"
        f.write_text(json.dumps({"file_name": "a01_s01_e01_v01", "label": label, "skeletons": sk}))
        with pytest.raises(ValueError, match=r"bad\.json: label: expected an int in 1\.\.10"):
            data.load(f)
    f.write_text('{"skeletons": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(ValueError, match=r"bad\.json: not an NW-UCLA json"):
        data.load(f)


def _penn_mat(path: Path, **override) -> Path:
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    d = {
        "x": rng.uniform(10, 300, size=(6, 13)),
        "y": rng.uniform(10, 300, size=(6, 13)),
        "visibility": np.ones((6, 13)),
        "action": "squat",
        "pose": "front",
        "train": 1,
        "dimensions": np.array([[480, 640, 6]]),
        "bbox": np.zeros((6, 4)),
        "nframes": 6,
    }
    d.update(override)
    savemat(path, d)
    return path


def test_penn_visible_joint_at_origin_is_missing(tmp_path):
    """Item 7: a joint marked visible at exactly (0, 0) is missing (NaN), as the docstring says."""
    x, y = np.full((6, 13), 50.0), np.full((6, 13), 60.0)
    x[2, 4] = y[2, 4] = 0.0
    x[3, 5] = 0.0  # only x is 0: a real joint on the image border, kept
    seq = data.load(_penn_mat(tmp_path / "0001.mat", x=x, y=y))[0][0]
    assert np.isnan(seq[0, 2, 4]).all() and np.isfinite(seq[0, 3, 5]).all()
    assert np.isfinite(seq).all(-1).sum() == 6 * 13 - 1


def test_penn_malformed_dimensions_name_the_file(tmp_path, capsys):
    """Items 7, 11: a .mat with wrong `dimensions` is a ValueError naming file and field (CLI: one line)."""
    bad = _penn_mat(tmp_path / "0002.mat", dimensions=np.zeros((0, 0)))
    with pytest.raises(ValueError, match=r"0002\.mat: action, dimensions"):
        data.load(bad)
    model = _tiny_model(tmp_path / "m")
    assert cli_main(["embed", str(bad), "-m", str(model), "-o", str(tmp_path / "e.npy"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "0002.mat" in err and len(err.strip().splitlines()) == 1


# ---- 11. the CLI: one line and exit 1, the file named ---------------------------------------------------------
@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    """A tiny model, embeddings with their sidecar and an index built from them."""
    root = tmp_path_factory.mktemp("cli")
    model = _tiny_model(root / "m")
    emb = np.random.default_rng(0).normal(size=(5, 64)).astype(np.float32)
    np.save(root / "emb.npy", emb)
    (root / "emb.json").write_text(json.dumps({"ids": [f"s{i}" for i in range(5)], "shape": [5, 64]}))
    assert cli_main(["index", str(root / "emb.npy"), "-o", str(root / "i.slimidx"), "--device", "cpu"]) == 0
    return root, model


def _hostile_inputs(root: Path, model: Path, tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (argv, text the one-line error must contain)."""
    out = str(tmp / "out.npy")
    emb = lambda p: ["embed", str(p), "-m", str(model), "-o", out, "--device", "cpu"]  # noqa: E731
    cases: dict[str, tuple[list[str], str]] = {}

    good = tmp / "good.pkl"
    data.write_pyskl(good, [np.ones((1, 4, 25, 3), np.float32)])
    raw = good.read_bytes()
    (tmp / "trunc.pkl").write_bytes(raw[: len(raw) // 2])
    cases["truncated pkl"] = (emb(tmp / "trunc.pkl"), "trunc.pkl")
    (tmp / "empty.pkl").write_bytes(b"")
    cases["empty pkl"] = (emb(tmp / "empty.pkl"), "empty.pkl")
    kp = np.ones((1, 4, 25, 3), np.float32)
    (tmp / "anns.pkl").write_bytes(pickle.dumps({"annotations": [{"keypoint": kp, "label": "walk"}]}))
    cases["malformed pyskl annotations"] = (emb(tmp / "anns.pkl"), "anns.pkl: annotations[0]['label']")
    (tmp / "anns2.pkl").write_bytes(pickle.dumps({"annotations": [1, 2]}))
    cases["pyskl annotations not dicts"] = (emb(tmp / "anns2.pkl"), "anns2.pkl")

    np.save(tmp / "seq.npy", np.ones((2, 1, 8, 25, 3), np.float32))
    raw = (tmp / "seq.npy").read_bytes()
    (tmp / "trunc.npy").write_bytes(raw[:100])
    cases["truncated npy"] = (emb(tmp / "trunc.npy"), "trunc.npy")
    (tmp / "empty.npy").write_bytes(b"")
    cases["empty npy"] = (emb(tmp / "empty.npy"), "empty.npy")
    (tmp / "neg.npy").write_bytes(raw.replace(b"(2, 1, 8, 25, 3)", b"(2, 1, -8, 25, 3)"))
    cases["negative shape in npy header"] = (emb(tmp / "neg.npy"), "neg.npy")

    deep = tmp / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    cases["json nested 5000 deep"] = (emb(deep), "deep.json")

    np.save(tmp / "q.npy", np.ones((3, 64), np.float32))
    (tmp / "q.json").write_text(json.dumps([1, 2, 3]))
    search = lambda q, *extra: ["search", str(root / "i.slimidx"), "--queries", str(q), *extra]  # noqa: E731
    cases["sidecar that is a list"] = (search(tmp / "q.npy"), "q.json: expected a JSON object")
    np.save(tmp / "q2.npy", np.ones((3, 64), np.float32))
    (tmp / "q2.json").write_text(json.dumps({"ids": ["a"]}))
    cases["query sidecar with fewer ids than rows"] = (search(tmp / "q2.npy"), "q2.json: ids: expected a list of 3")

    (tmp / "bad.slimidx").write_bytes(_tampered_index(root / "i.slimidx"))
    cases["tampered index"] = (["search", str(tmp / "bad.slimidx"), "--queries", str(root / "emb.npy")],
                               "bad.slimidx: the FAISS index section cannot be read")

    cases["--device bogus"] = (emb(tmp / "seq.npy")[:-1] + ["bogus"], "--device: expected cpu, cuda")
    cases["huge k"] = (search(root / "emb.npy", "-k", "100000000", "-q", "-o", str(tmp / "hits.json")), "")
    return cases


def _tampered_index(path: Path) -> bytes:
    """The index file with its FAISS section overwritten and every checksum recomputed to match (a deliberate
    tampering, which checksums cannot catch: FAISS itself then fails to parse it)."""
    import hashlib

    raw = path.read_bytes()
    hlen = int.from_bytes(raw[18:26], "little")
    at = 26 if raw[26:27] == b"{" else 58  # format 1: no header checksum
    header = json.loads(raw[at : at + hlen])
    start = at + hlen
    n = header["sections"][0]["length"]
    index = b"XXXX" + raw[start + 4 : start + n]
    header["sections"][0]["sha256"] = hashlib.sha256(index).hexdigest()
    head = json.dumps(header, indent=1).encode()
    length = len(head).to_bytes(8, "little")
    digest = hashlib.sha256(length + head).digest()
    if header["format_version"] == 1:  # as an older slimkit wrote it
        return raw[:18] + length + head + index + raw[start + n :]
    return raw[:18] + length + digest + head + index + raw[start + n :]


_CLI_CASES = ["truncated pkl", "empty pkl", "malformed pyskl annotations", "pyskl annotations not dicts",
              "truncated npy", "empty npy", "negative shape in npy header", "json nested 5000 deep",
              "sidecar that is a list", "query sidecar with fewer ids than rows", "tampered index",
              "--device bogus", "huge k"]


@pytest.mark.parametrize("case", _CLI_CASES)
def test_cli_hostile_inputs_give_one_line_and_exit_1(cli_env, tmp_path, capsys, case):
    """Item 11: each listed hostile input gives `slimkit <cmd>: error: <one line naming the file>`, exit 1."""
    root, model = cli_env
    argv, needle = _hostile_inputs(root, model, tmp_path)[case]
    code = cli_main(argv)
    err = capsys.readouterr().err.strip()
    if case == "huge k":  # not an error at all: k is clamped to the 5 items
        assert code == 0 and len(json.loads((tmp_path / "hits.json").read_text())[0]["hits"]) == 5
        return
    assert code == 1, err
    assert len(err.splitlines()) == 1 and err.startswith(f"slimkit {argv[0]}: error: ") and needle in err, err


def test_cli_cuda_without_cuda_and_memory_error(cli_env, tmp_path, capsys, monkeypatch):
    """Item 11: --device cuda without CUDA, and a MemoryError, are one line and exit 1."""
    import torch

    from slimkit import Retriever

    root, model = cli_env
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = ["embed", str(root / "emb.npy"), "-m", str(model), "-o", str(tmp_path / "e.npy"), "--device", "cuda"]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("slimkit embed: error: --device: 'cuda' but CUDA is not available") and "\n" not in err

    def oom(*a, **k):
        raise MemoryError()

    monkeypatch.setattr(Retriever, "search", oom)
    assert cli_main(["search", str(root / "i.slimidx"), "--queries", str(root / "emb.npy")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "slimkit search: error: out of memory (MemoryError)"


def test_every_reader_error_names_the_file(tmp_path):
    """Item 11: a broken file of every format gives an error whose message holds the file's path."""
    broken = {
        "x.skeleton": b"\xff\xfe binary",
        "x.npz": b"PK\x05\x06" + b"\0" * 18,
        "x.pkl": b"\x80\x04garbage",
        "x.json": b'{"skeletons": [[1, 2]]}',
        "x.mat": b"MATLAB 5.0 MAT-file" + os.urandom(200),
        "x.npy": b"\x93NUMPY\x01\x00" + os.urandom(50),
    }
    for name, content in broken.items():
        f = tmp_path / name
        f.write_bytes(content)
        with pytest.raises((ValueError, TypeError)) as e:
            data.load(f)
        assert str(f) in str(e.value), (name, str(e.value))


# ---- 12, 13. writing outputs ------------------------------------------------------------------------------------
def test_failed_sidecar_write_leaves_no_npy(cli_env, tmp_path, capsys, monkeypatch):
    """Item 12: when the sidecar cannot be written, no .npy is left behind (both or neither)."""
    root, model = cli_env
    np.save(tmp_path / "seq.npy", np.ones((2, 1, 8, 25, 3), np.float32))
    out = tmp_path / "o" / "e.npy"
    real_write_text = Path.write_text

    def failing_write_text(self, *a, **k):
        if self.name.startswith(".e.json."):  # the sidecar's temporary file: the disk is full
            raise OSError(28, "No space left on device")
        return real_write_text(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", failing_write_text)
    assert cli_main(["embed", str(tmp_path / "seq.npy"), "-m", str(model), "-o", str(out), "--device", "cpu"]) == 1
    assert "No space left" in capsys.readouterr().err
    assert not out.exists() and not out.with_suffix(".json").exists() and list(out.parent.iterdir()) == []
    monkeypatch.undo()
    assert cli_main(["embed", str(tmp_path / "seq.npy"), "-m", str(model), "-o", str(out), "--device", "cpu"]) == 0
    assert out.exists() and json.loads(out.with_suffix(".json").read_text())["shape"] == list(np.load(out).shape)
    assert np.load(out).shape[0] == 2


def test_written_files_respect_the_umask(tmp_path):
    """Item 13: .slimidx, model.safetensors (and its folder), .pkl and embeddings get the umask's mode."""
    from slimkit import Retriever

    old = os.umask(0o027)
    try:
        r = Retriever(4, device="cpu")
        r.add(np.eye(4, dtype=np.float32))
        r.save(tmp_path / "i.slimidx")
        model = _tiny_model(tmp_path / "m")
        data.write_pyskl(tmp_path / "d.pkl", [np.ones((1, 4, 25, 3), np.float32)])
        np.save(tmp_path / "seq.npy", np.ones((1, 1, 8, 25, 3), np.float32))
        assert cli_main(["embed", str(tmp_path / "seq.npy"), "-m", str(model), "-o", str(tmp_path / "e.npy"),
                         "--device", "cpu", "-q"]) == 0
    finally:
        os.umask(old)
    for f in ("i.slimidx", "m/model.safetensors", "m/config.json", "d.pkl", "e.npy", "e.json"):
        assert (tmp_path / f).stat().st_mode & 0o777 == 0o640, f
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o750


def test_damaged_mat_that_crashes_scipy_is_refused(shared_data, tmp_path):
    """Items 7, 11: a real Penn Action file with 4 bytes inserted in a compressed element makes scipy's
    loadmat crash the interpreter (segfault, scipy 1.17, found by tests/test_fuzz_readers.py --fuzz-long);
    slimkit checks the MAT structure first and raises a ValueError naming the file."""
    import subprocess
    import sys

    src = shared_data / "penn-action" / "labels" / "1929.mat"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    raw = src.read_bytes()
    bad = tmp_path / "1929.mat"
    bad.write_bytes(raw[:281] + bytes.fromhex("5da3b0f2") + raw[281:])
    scipy_alone = subprocess.run([sys.executable, "-c", f"from scipy.io import loadmat; loadmat({str(bad)!r})"],
                                 capture_output=True, timeout=120)
    slim = subprocess.run(
        [sys.executable, "-c", f"import slimkit.data as d\ntry:\n d.load({str(bad)!r})\nexcept ValueError as e:\n"
                               " print('ValueError:', e)"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert slim.returncode == 0, (scipy_alone.returncode, slim.stderr[-2000:])
    assert f"ValueError: {bad}: not a readable MATLAB file (damaged MAT-file structure" in slim.stdout


def test_readers_check_declared_counts_and_names(tmp_path):
    """Item 7: Penn `nframes` / `dimensions[2]` must match the frames held; an NW-UCLA label must agree with
    the action in its file_name (all 2,326 / 1,484 real files do)."""
    for override in ({"nframes": 9}, {"dimensions": np.array([[480, 640, 4]])}):
        with pytest.raises(ValueError, match=r"0003\.mat: nframes \(\d+\) and dimensions\[2\] \(\d+\) declare"):
            data.load(_penn_mat(tmp_path / "0003.mat", **override))
    sk = (np.random.default_rng(0).normal(size=(4, 20, 3)) + 2).tolist()
    f = tmp_path / "a05_s01_e01_v01.json"
    f.write_text(json.dumps({"file_name": "a05_s01_e01_v01", "label": 3, "skeletons": sk}))
    with pytest.raises(ValueError, match=r"label 3 contradicts file_name 'a05_s01_e01_v01': action a05 is label 5"):
        data.load(f)
