"""The NTU-60 reproduction recipe runs end to end on a tiny generated CTR-GCN npz."""

import importlib.util
import json
from pathlib import Path

import numpy as np
from conftest import random_walk

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "ntu60_xsub" / "run.py"


def test_recipe_smoke(tmp_path, rng):
    def rows(n):
        x = np.zeros((n, 40, 150), np.float32)
        for i in range(n):
            t = int(rng.integers(12, 40))
            x[i, :t, :75] = random_walk(rng, t, 25).reshape(t, 75)
        return x

    y_train, y_test = np.eye(3)[np.arange(12) % 3], np.eye(3)[np.arange(6) % 3]
    np.savez(tmp_path / "NTU60_CS.npz", x_train=rows(12), y_train=y_train, x_test=rows(6), y_test=y_test)
    spec = importlib.util.spec_from_file_location("ntu60_run", RECIPE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "run"
    res = mod.main(["--data", str(tmp_path / "NTU60_CS.npz"), "--out", str(out), "--preset", "tiny",
                    "--batch-size", "4", "--max-steps", "2", "--probe-epochs", "1", "--device", "cpu"])
    assert 0 <= res["knn_top1"] <= 100 and 0 <= res["linear_top1"] <= 100
    assert "linear probe (MAMP)" in res["linear_protocol"]
    cfg = json.loads((out / "encoder" / "config.json").read_text())
    assert cfg["layout"] == "ntu25"
    assert "NTU-60 x-sub linear top-1" in (out / "encoder" / "README.md").read_text()
    assert (out / "checkpoint-2").is_dir()
