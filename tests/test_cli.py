"""The `slimkit` command line, run in-process through `main([...])` (and once as `python -m slimkit`)."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import random_walk

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.cli import main

needs_faiss = pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="faiss not installed")


def _module(name: str) -> bool:
    return importlib.util.find_spec(f"slimkit.{name}") is not None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A tiny kinect20 model folder, a .npy batch and a labelled pyskl .pkl with a train/test split."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=32, depth=1)).save_pretrained(d / "model")
    seqs = np.stack([random_walk(rng, 24, 20) for _ in range(12)])  # (N, T, V, C)
    np.save(d / "clips.npy", seqs[:, None])  # (N, M, T, V, C)
    from slimkit.data import write_pyskl

    labels = np.arange(12) % 3
    names = [f"clip{i:02d}" for i in range(12)]
    write_pyskl(
        d / "set.pkl",
        list(seqs),
        labels=labels,
        names=names,
        split={"train": names[:9], "test": names[9:]},
        layout="kinect20",
    )
    return d


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_help_lists_commands_and_examples(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0
    for cmd in ("pretrain", "embed", "index", "search", "evaluate", "examples:"):
        assert cmd in out
    for cmd in ("pretrain", "embed", "index", "search", "evaluate"):
        rc, out, _ = run(capsys, cmd, "--help")
        assert rc == 0 and "examples:" in out and f"slimkit {cmd}" in out


def test_no_command_prints_usage(capsys):
    rc, _, err = run(capsys)
    assert rc == 2 and "usage: slimkit" in err


def test_python_dash_m_help():
    r = subprocess.run([sys.executable, "-m", "slimkit", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "usage: slimkit" in r.stdout and "embed" in r.stdout


def test_embed_writes_npy_and_sidecar(workdir, tmp_path, capsys):
    out = tmp_path / "e.npy"
    rc, stdout, err = run(capsys, "embed", workdir / "clips.npy", "--layout", "kinect20", "-m", workdir / "model",
                          "-o", out, "-q")
    assert rc == 0, err
    z = np.load(out)
    assert z.shape == (12, 32 * 9) and z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["layout"] == "kinect20" and len(side["ids"]) == 12 and "12 embeddings" in stdout


def test_embed_split_of_pickle(workdir, tmp_path, capsys):
    out = tmp_path / "test.npy"
    rc, _, err = run(capsys, "embed", workdir / "set.pkl", "--split", "test", "-m", workdir / "model", "-o", out, "-q")
    assert rc == 0, err
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["ids"] == ["clip09", "clip10", "clip11"] and side["labels"] == [0, 1, 2]


@pytest.mark.skipif(not _module("eval"), reason="slimkit.eval not written yet")
def test_ctrgcn_npz_is_converted_to_the_models_layout(workdir, tmp_path, capsys):
    """A CTR-GCN .npz (NTU-25 rows) into the kinect20 model: converted, embedded and evaluated by split."""
    rng = np.random.default_rng(1)

    def rows(n):
        x = np.zeros((n, 40, 2 * 25 * 3), np.float32)  # (N, T, M*V*C), zero-padded, second actor absent
        x[:, :30, :75] = np.stack([random_walk(rng, 30, 25) for _ in range(n)]).reshape(n, 30, 75)
        return x

    y_train, y_test = np.eye(3)[np.arange(9) % 3], np.eye(3)[np.arange(3)]
    np.savez(tmp_path / "ntu.npz", x_train=rows(9), y_train=y_train, x_test=rows(3), y_test=y_test)
    out = tmp_path / "test.npy"
    rc, _, err = run(capsys, "embed", tmp_path / "ntu.npz", "--split", "test", "-m", workdir / "model", "-o", out, "-q")
    assert rc == 0, err
    assert "converting joints from layout 'ntu25' to the model's 'kinect20'" in err
    assert np.load(out).shape == (3, 32 * 9)
    rc, out_text, err = run(capsys, "evaluate", tmp_path / "ntu.npz", "--train-split", "train", "--test-split",
                            "test", "-m", workdir / "model", "-q")
    assert rc == 0, err
    assert "kNN (k=1): top-1" in out_text and "gallery = train (9), queries = test (3)" in out_text


@needs_faiss
def test_index_and_search_round_trip(workdir, tmp_path, capsys):
    emb = tmp_path / "set.npy"
    assert run(capsys, "embed", workdir / "set.pkl", "-m", workdir / "model", "-o", emb, "-q")[0] == 0
    idx = tmp_path / "set.slimidx"
    rc, out, err = run(capsys, "index", emb, "-o", idx)
    assert rc == 0, err and "indexed 12" in out
    hits = tmp_path / "hits.json"
    rc, out, err = run(capsys, "search", idx, "--queries", emb, "--rows", 0, 4, "-k", 3, "-o", hits)
    assert rc == 0, err
    res = json.loads(hits.read_text())
    assert [r["query"] for r in res] == ["clip00", "clip04"]
    assert res[0]["hits"][0]["id"] == "clip00" and res[0]["hits"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert res[1]["hits"][0]["label"] == 1
    assert "query clip04:" in out
    # queries given as skeleton data, embedded on the fly
    rc, out, err = run(capsys, "search", idx, "--queries", workdir / "set.pkl", "-m", workdir / "model", "--rows", 2,
                       "-k", 1, "-q")
    assert rc == 0, err and "1. clip02" in out


@needs_faiss
def test_index_with_label_file_and_wrong_length(workdir, tmp_path, capsys):
    emb = tmp_path / "c.npy"
    run(capsys, "embed", workdir / "clips.npy", "--layout", "kinect20", "-m", workdir / "model", "-o", emb, "-q")
    (tmp_path / "labels.txt").write_text("\n".join(["a", "b"] * 6))
    assert run(capsys, "index", emb, "--labels", tmp_path / "labels.txt", "-o", tmp_path / "i.slimidx")[0] == 0
    (tmp_path / "short.txt").write_text("a\nb\n")
    rc, _, err = run(capsys, "index", emb, "--labels", tmp_path / "short.txt", "-o", tmp_path / "j.slimidx")
    assert rc == 1 and "has 2 entries, expected 12" in err


@pytest.mark.skipif(not _module("eval"), reason="slimkit.eval not written yet")
def test_evaluate_knn_and_linear_probe(workdir, tmp_path, capsys):
    res = tmp_path / "r.json"
    rc, out, err = run(capsys, "evaluate", workdir / "set.pkl", "--train-split", "train", "--test-split", "test",
                       "-m", workdir / "model", "-k", 1, 3, "--linear-probe", "--probe-epochs", 2, "-o", res, "-q")
    assert rc == 0, err
    r = json.loads(res.read_text())
    assert r["train"] == 9 and r["test"] == 3
    for key in ("knn_top1_k1", "knn_top1_k3", "linear_probe_top1"):
        assert 0.0 <= r[key] <= 1.0
    assert "kNN (k=1): top-1" in out and "linear probe: top-1" in out


@pytest.mark.skipif(not _module("train"), reason="slimkit.train not written yet")
def test_pretrain_a_few_steps(workdir, tmp_path, capsys):
    out = tmp_path / "run"
    rc, stdout, err = run(capsys, "pretrain", workdir / "clips.npy", "--layout", "kinect20", "--preset", "tiny", "-o",
                          out, "--epochs", 1, "--batch-size", 4, "--max-steps", 2, "--device", "cpu")
    assert rc == 0, err
    enc = SLiMEncoder.from_pretrained(out / "encoder")
    assert enc.config.layout == "kinect20" and enc.config.dim == SLiMConfig.tiny().dim


@pytest.mark.parametrize(
    "argv, message",
    [
        (["embed", "{d}/nope.npy", "-m", "{d}/model", "-o", "{t}/x.npy"], "no such file or folder"),
        (["embed", "{d}/clips.npy", "-m", "{d}/model", "-o", "{t}/x.txt"], "expected a .npy file name"),
        (["embed", "{d}/clips.npy", "--layout", "ntu25", "-m", "{d}/model", "-o", "{t}/x.npy"], "ntu25"),
        (
            ["embed", "{d}/set.pkl", "--split", "xsub_val", "-m", "{d}/model", "-o", "{t}/x.npy"],
            "no split named",
        ),
        (
            ["embed", "{d}/clips.npy", "--layout", "kinect20", "-m", "{t}/no-model", "-o", "{t}/x.npy"],
            "no-model",
        ),
        (["index", "{d}/clips.npy", "-o", "{t}/i.slimidx"], "expected a float array of shape (N, D)"),
        (["search", "{t}/missing.slimidx", "--queries", "{d}/clips.npy"], "no such file"),
        (["evaluate", "{d}/clips.npy", "--layout", "kinect20", "-m", "{d}/model"],
         "say which sequences to test on"),
    ],
)
def test_user_errors_are_one_line_without_traceback(workdir, tmp_path, capsys, argv, message):
    rc, _, err = run(capsys, *[a.format(d=workdir, t=tmp_path) for a in argv])
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"slimkit {argv[0]}: error: ") and message in lines[0]
    assert "Traceback" not in err


def test_usage_error_exits_2(capsys):
    rc, _, err = run(capsys, "embed", "--frobnicate")
    assert rc == 2 and "usage:" in err


def test_pretrain_on_two_sets_of_different_layouts(workdir, tmp_path, capsys):
    """`slimkit pretrain A B --weights` converts B (ntu25) to A's layout (kinect20) and trains on both."""
    rng = np.random.default_rng(1)
    np.save(tmp_path / "ntu.npy", np.stack([random_walk(rng, 24, 25) for _ in range(8)])[:, None])
    out = tmp_path / "run"
    rc, stdout, err = run(capsys, "pretrain", workdir / "clips.npy", tmp_path / "ntu.npy", "--layout", "kinect20",
                          "--weights", 1, 1, "--preset", "tiny", "-o", out, "--epochs", 1, "--batch-size", 4,
                          "--max-steps", 2, "--device", "cpu")
    assert rc == 0, err
    assert "converting joints from layout 'ntu25'" in err
    enc = SLiMEncoder.from_pretrained(out / "encoder")
    assert enc.config.layout == "kinect20"
    card = (out / "encoder" / "README.md").read_text()
    assert "clips.npy (12 sequences) + ntu.npy (8 sequences)" in card
    rc, _, err = run(capsys, "pretrain", workdir / "clips.npy", tmp_path / "ntu.npy", "--layout", "kinect20",
                     "--weights", 1, "-o", tmp_path / "bad")
    assert rc == 1 and "--weights" in err
