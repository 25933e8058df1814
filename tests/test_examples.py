"""Every script in examples/ runs end to end on a CPU (small arguments, fresh processes, a temp folder)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_example(name: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "2"}
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, f"{name} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout + r.stderr


def test_every_example_is_tested():
    tested = {"quickstart.py", "embed_and_search.py", "pretrain_own_data.py", "keypoints_2d.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_quickstart_synthetic(tmp_path):
    out = run_example("quickstart.py", "--data", str(tmp_path / "absent"), "--out", "qs", cwd=tmp_path)
    assert "synthetic sequences" in out and "kNN top-1" in out and "query " in out
    assert (tmp_path / "qs" / "retrieval_grid.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.realdata
def test_quickstart_nwucla(tmp_path, shared_data):
    data = shared_data / "nw-ucla" / "all_sqe"
    out = run_example("quickstart.py", "--data", str(data), "--limit", "120", "--out", "qs", cwd=tmp_path)
    assert "NW-UCLA sequences" in out and "kNN top-1" in out
    assert (tmp_path / "qs" / "retrieval_grid.png").read_bytes()[:8] == PNG_MAGIC


def test_embed_and_search(tmp_path):
    out = run_example("embed_and_search.py", "--out", "demo", "-k", "3", cwd=tmp_path)
    assert "12 clips indexed" in out and "1. clip_000" in out
    assert np.load(tmp_path / "demo" / "embeddings.npy").shape[0] == 12


def test_pretrain_own_data(tmp_path):
    out = run_example(
        "pretrain_own_data.py", "--out", "run", "--steps", "2", "--batch-size", "8", cwd=tmp_path
    )
    assert "step 2: loss" in out
    assert (tmp_path / "run" / "encoder" / "model.safetensors").is_file()


def test_keypoints_2d(tmp_path):
    out = run_example("keypoints_2d.py", "--out", "kp", cwd=tmp_path)
    assert "read 48 frames" in out and "clip embedding: (1, " in out
    from PIL import Image

    with Image.open(tmp_path / "kp" / "keypoints.gif") as im:
        assert im.n_frames == 48
