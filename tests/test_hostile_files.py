"""Hostile and broken files: no code execution, no silent wrong data, no crash without a clear message.

Each test builds its hostile file itself (issue 12 lists the items; the number is in each test's docstring).
"""

from __future__ import annotations

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
    assert "--trust-pickle" in err and "Traceback" not in err and len(err.splitlines()) == 1
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
