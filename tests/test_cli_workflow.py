"""Command-line workflows on real-world data problems (issue 13): unusable sequences, 2-D data, model names,
evaluation reports, search by id, the pretraining monitor. Generated data cover the logic; the same commands
also run on real Penn Action and NW-UCLA files when ../shared/data is present."""

import json
import shutil
import time

import numpy as np
import pytest
from conftest import random_walk

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.cli import main


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A folder of kinect20 .npy clips (one all-zero: no usable joint), a labelled .pkl with a split, a model."""
    d = tmp_path_factory.mktemp("wf")
    rng = np.random.default_rng(0)
    folder = d / "clips"
    folder.mkdir()
    for i in range(10):
        a = random_walk(rng, 20, 20)
        if i == 3:
            a[:] = 0.0  # every joint all-zero: nothing to embed
        np.save(folder / f"clip{i:02d}.npy", a)
    from slimkit.data import write_pyskl

    seqs = [random_walk(rng, 24, 20) + (i % 3) for i in range(18)]
    seqs[4] = np.zeros_like(seqs[4])
    names = [f"s{i:02d}" for i in range(18)]
    write_pyskl(
        d / "set.pkl",
        seqs,
        labels=np.arange(18) % 3,
        names=names,
        split={"train": names[:12], "test": names[12:]},
        layout="kinect20",
    )
    SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=32, depth=1)).save_pretrained(d / "model")
    return d


# ---- items 1-3: unusable sequences, 2-D data, errors that name files --------------------------------------
def test_pretrain_skips_unusable_sequence_with_one_warning_naming_the_file(clips, tmp_path, capsys):
    rc, out, err = run(
        capsys, "pretrain", clips / "clips", "--layout", "kinect20", "--preset", "tiny", "-o", tmp_path / "r",
        "--batch-size", 4, "--max-steps", 1, "--device", "cpu", "-q",
    )
    assert rc == 0, err
    bad = str(clips / "clips" / "clip03.npy")
    assert sum(bad in line for line in err.splitlines()) == 1, err
    assert "skipped 1 of 10 sequences" in err
    assert "1 sequences skipped" in out


def test_embed_keeps_rows_with_zero_placeholder_and_valid_mask(clips, tmp_path, capsys):
    out = tmp_path / "e.npy"
    rc, stdout, err = run(capsys, "embed", clips / "clips", "--layout", "kinect20", "-m", clips / "model",
                          "-o", out, "-q")
    assert rc == 0, err
    emb = np.load(out)
    side = json.loads(out.with_suffix(".json").read_text())
    assert emb.shape == (10, 32 * 9) and np.isfinite(emb).all()
    assert side["ids"][3] == "clip03" and side["valid"] == [i != 3 for i in range(10)]
    assert side["skipped"] == ["clip03"]
    assert not emb[3].any() and np.allclose(np.linalg.norm(np.delete(emb, 3, 0), axis=1), 1, atol=1e-5)
    # the other rows are what embedding them alone gives: ids did not shift
    enc = SLiMEncoder.from_pretrained(clips / "model")
    alone = enc.embed([np.load(clips / "clips" / "clip05.npy")])
    np.testing.assert_allclose(emb[5], alone[0], atol=1e-5)
    # an index built from them leaves the placeholder out
    rc, _, err = run(capsys, "index", out, "-o", tmp_path / "i.slimidx")
    assert rc == 0 and "leaving out 1 placeholder rows" in err
    from slimkit import Retriever

    r = Retriever.load(tmp_path / "i.slimidx")
    assert len(r) == 9


def test_errors_inside_a_run_name_the_file_not_an_index(clips, tmp_path, capsys):
    d = tmp_path / "clips"
    shutil.copytree(clips / "clips", d)
    a = np.load(d / "clip06.npy")
    a[2, 4] = 1e9  # a corrupt coordinate, far beyond any unit: refused by preprocessing
    np.save(d / "clip06.npy", a)
    for argv in (
        ["embed", d, "--layout", "kinect20", "-m", clips / "model", "-o", tmp_path / "e.npy", "-q"],
        ["pretrain", d, "--layout", "kinect20", "--preset", "tiny", "-o", tmp_path / "r", "--batch-size", 9,
         "--max-steps", 1, "--device", "cpu", "-q"],
    ):
        rc, _, err = run(capsys, *argv)
        assert rc == 1, err
        line = err.strip().splitlines()[-1]
        assert f"error: {d / 'clip06.npy'}: coordinates up to" in line and "[" not in line.split("error:")[1][:40]


@pytest.fixture(scope="module")
def coco_pixels(tmp_path_factory):
    """2-D coco17 pixel keypoints: a folder of (T, 17, 2) clips, with (x, y, score) twins."""
    d = tmp_path_factory.mktemp("coco")
    rng = np.random.default_rng(1)
    for sub, c in (("xy", 2), ("xys", 3)):
        (d / sub).mkdir()
        for i in range(8):
            a = 300 + 80 * random_walk(rng, 16, 17, c=2)
            if c == 3:
                a = np.concatenate([a, rng.uniform(0.2, 1.0, size=a.shape[:-1] + (1,))], -1).astype(np.float32)
            np.save(d / sub / f"p{i}.npy", a)
    return d


@pytest.mark.parametrize("sub", ["xy", "xys"])
def test_pretrain_takes_channels_layout_and_scale_from_2d_data(coco_pixels, tmp_path, capsys, sub):
    rc, _, err = run(
        capsys, "pretrain", coco_pixels / sub, "--layout", "coco17", "--preset", "tiny", "-o", tmp_path / "r",
        "--batch-size", 4, "--max-steps", 1, "--device", "cpu", "-q",
    )
    assert rc == 0, err
    cfg = SLiMEncoder.from_pretrained(tmp_path / "r" / "encoder").config
    assert (cfg.layout, cfg.in_channels, cfg.normalize_scale) == ("coco17", 2, True)


def test_pretrain_normalize_scale_flag_overrides(coco_pixels, tmp_path, capsys):
    rc, _, err = run(
        capsys, "pretrain", coco_pixels / "xy", "--layout", "coco17", "--preset", "tiny", "-o", tmp_path / "r",
        "--batch-size", 4, "--max-steps", 1, "--device", "cpu", "-q", "--no-normalize-scale",
    )
    assert rc == 0, err
    assert SLiMEncoder.from_pretrained(tmp_path / "r" / "encoder").config.normalize_scale is False


def test_channel_mismatch_names_the_file_and_the_flag(coco_pixels, tmp_path, capsys):
    rc, _, err = run(
        capsys, "pretrain", coco_pixels / "xy", "--layout", "coco17", "--in-channels", "3", "-o", tmp_path / "r",
        "--max-steps", 1, "-q",
    )
    assert rc == 1
    line = err.strip().splitlines()[-1]
    assert str(coco_pixels / "xy" / "p0.npy") in line and "--in-channels" in line and "in_channels=3" in line


def test_embed_with_a_model_of_other_channels_names_file_and_fix(coco_pixels, tmp_path, capsys):
    SLiMEncoder(SLiMConfig.tiny(layout="coco17", in_channels=3, dim=32, depth=1)).save_pretrained(tmp_path / "m")
    rc, _, err = run(capsys, "embed", coco_pixels / "xy", "--layout", "coco17", "-m", tmp_path / "m",
                     "-o", tmp_path / "e.npy")
    assert rc == 1
    assert str(coco_pixels / "xy" / "p0.npy") in err and "slimkit models" in err


def test_usable_mask_reads_scores_for_2d_models():
    from slimkit.checks import infer_in_channels, usable_mask

    a = np.ones((1, 5, 17, 3), dtype=np.float32)
    low = a.copy()
    low[..., 2] = 0.0  # every score at the threshold: every joint missing for a 2-D model
    nan = np.full((5, 17, 2), np.nan, dtype=np.float32)
    assert usable_mask([a, low, nan], in_channels=2).tolist() == [True, False, False]
    assert usable_mask([a, low], in_channels=3).tolist() == [True, True]
    assert infer_in_channels(3, "coco17") == 2 and infer_in_channels(3, "ntu25") == 3
    assert infer_in_channels(2, "ntu25") == 2


# ---- item 4: finding models ---------------------------------------------------------------------------------
def test_a_model_folder_added_to_the_package_is_listed(clips, tmp_path, monkeypatch, capsys):
    from slimkit import list_pretrained, registry

    pkg = tmp_path / "pretrained"
    shutil.copytree(registry.PACKAGED_DIR / "slim-kinect-tiny", pkg / "slim-kinect-tiny")
    SLiMEncoder(SLiMConfig.tiny(layout="coco17", in_channels=2, dim=32, depth=1)).save_pretrained(
        pkg / "slim-coco-test", model_card_kwargs={"training_data": "nothing, a test"}
    )
    (pkg / "not-a-model").mkdir()
    monkeypatch.setattr(registry, "PACKAGED_DIR", pkg)
    assert list_pretrained() == ["slimkit/slim-coco-test", "slimkit/slim-kinect-tiny"]
    assert list_pretrained("coco") == ["slimkit/slim-coco-test"]
    assert list_pretrained("*kinect*") == ["slimkit/slim-kinect-tiny"]
    info = {m.name: m for m in list_pretrained(info=True)}
    m = info["slimkit/slim-coco-test"]
    assert (m.layout, m.in_channels, m.dim, m.source, m.training_data) == ("coco17", 2, 32, "shipped",
                                                                            "nothing, a test")
    assert "NW-UCLA" in info["slimkit/slim-kinect-tiny"].training_data
    assert info["slimkit/slim-kinect-tiny"].results  # the card's results rows
    rc, out, _ = run(capsys, "models")
    assert rc == 0 and "slimkit/slim-coco-test" in out and "coco17" in out and "kinect20" in out
    rc, out, _ = run(capsys, "models", "--json")
    assert [r["name"] for r in json.loads(out)] == ["slimkit/slim-coco-test", "slimkit/slim-kinect-tiny"]
    # loadable by its name, and by its short name
    assert SLiMEncoder.from_pretrained("slimkit/slim-coco-test").config.layout == "coco17"
    assert SLiMEncoder.from_pretrained("slim-coco-test").config.in_channels == 2


def test_cached_hub_models_are_listed(tmp_path):
    from slimkit.registry import list_pretrained

    cache = tmp_path / "hub"
    snap = cache / "models--me--my-slim" / "snapshots" / ("a" * 40)
    SLiMEncoder(SLiMConfig.tiny(layout="ntu25", dim=32, depth=1)).save_pretrained(snap)
    (cache / "models--me--my-slim" / "refs").mkdir()
    (cache / "models--me--my-slim" / "refs" / "main").write_text("a" * 40)
    names = list_pretrained(cache_dir=cache)
    assert "me/my-slim" in names and names[0] == "slimkit/slim-kinect-tiny"
    (m,) = list_pretrained("my-slim", info=True, cache_dir=cache)
    assert (m.source, m.layout, m.dim) == ("cache", "ntu25", 32)


@pytest.mark.parametrize("name", ["slimkit/slim-kinect-small", "slim-kinect-tin", "someone/slim-kinect-tiny"])
def test_unknown_model_fails_at_once_with_known_names_and_close_matches(clips, tmp_path, capsys, name):
    t0 = time.perf_counter()
    rc, _, err = run(capsys, "embed", clips / "clips", "--layout", "kinect20", "-m", name, "-o", tmp_path / "e.npy")
    assert time.perf_counter() - t0 < 10
    assert rc == 1
    assert "known models: ['slimkit/slim-kinect-tiny'" in err and "did you mean 'slimkit/slim-kinect-tiny'" in err


def test_no_stale_model_names_in_the_package():
    from pathlib import Path

    import slimkit
    from slimkit import list_pretrained

    known = {n.split("/")[1] for n in list_pretrained()}
    root = Path(slimkit.__file__).parent
    import re

    for f in list(root.glob("*.py")) + [root.parent / "README.md"] + list((root.parent / "docs").rglob("*.md")):
        if not f.is_file():
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            if "error" in line or "typo" in line:
                continue  # examples of the error an unknown name gives
            for name in re.findall(r"slimkit/(slim-[a-z0-9-]+)", line):
                assert name in known, f"{f}: advertises {name!r}, which does not ship ({sorted(known)})"


# ---- items 6-7: evaluation ----------------------------------------------------------------------------------
def test_evaluate_uses_own_split_embeds_once_and_reports(clips, tmp_path, capsys, monkeypatch):
    import slimkit.eval as ev

    calls = []
    real = ev.center_view_embeddings

    def counting(data, *a, **kw):
        calls.append(len(data))
        return real(data, *a, **kw)

    monkeypatch.setattr(ev, "center_view_embeddings", counting)
    out = tmp_path / "res.json"
    rc, stdout, err = run(capsys, "evaluate", clips / "set.pkl", "-m", clips / "model", "-k", 1, 3, "-o", out)
    assert rc == 0, err
    assert calls == [12, 6]  # train and test, each embedded once for both k (screened in the same pass)
    res = json.loads(out.read_text())
    assert (res["train_split"], res["test_split"]) == ("train", "test")
    assert res["skipped"] == {"train": ["s04"], "test": []}
    for key in ("knn_k1", "knn_k3"):
        rep = res["reports"][key]
        assert 0 <= rep["top1"] <= rep["top5"] <= 1 and 0 <= rep["mean_class_accuracy"] <= 1
        cm = np.array(rep["confusion_matrix"])
        assert cm.shape == (3, 3) and cm.sum() == 6 and np.isclose(np.trace(cm) / 6, rep["top1"])
        assert (tmp_path / f"res.{key}.confusion.png").stat().st_size > 1000
    assert np.isclose(res["knn_top1_k1"], res["reports"]["knn_k1"]["top1"])
    assert "top-5" in stdout and "mean class" in stdout


def test_evaluate_reads_embeddings_from_embed(clips, tmp_path, capsys):
    emb = tmp_path / "set.npy"
    rc, _, err = run(capsys, "embed", clips / "set.pkl", "-m", clips / "model", "-o", emb, "-q")
    assert rc == 0, err
    side = json.loads(emb.with_suffix(".json").read_text())
    assert side["splits"]["train"] == list(range(12)) and side["valid"][4] is False
    out = tmp_path / "r.json"
    rc, stdout, err = run(capsys, "evaluate", emb, "-k", 1, "--linear-probe", "--probe-epochs", 3, "-o", out,
                          "--no-plots")
    assert rc == 0, err
    res = json.loads(out.read_text())
    assert res["train"] == 11 and res["test"] == 6  # the placeholder row left out
    assert res["reports"]["linear_probe"]["num_test"] == 6
    assert "linear probe" in err  # the probe's progress bar
    assert not list(tmp_path.glob("*.png"))
    # the same numbers as the library on the same embeddings
    from slimkit import knn_accuracy

    z = np.load(emb)
    labels = np.array(side["labels"])
    tr = [i for i in range(12) if side["valid"][i]]
    te = list(range(12, 18))
    assert np.isclose(res["knn_top1_k1"], knn_accuracy(z[tr], labels[tr], z[te], labels[te]).accuracy)


def test_knn_report_matches_vote_and_top5_counts_the_vote_first():
    from slimkit import knn_accuracy
    from slimkit.metrics import classification_report, confusion_matrix, mean_class_accuracy, top_k_accuracy

    rng = np.random.default_rng(0)
    x_tr, y_tr = rng.normal(size=(60, 8)), np.arange(60) % 6
    x_te, y_te = rng.normal(size=(30, 8)), np.arange(30) % 6
    for k in (1, 5):
        res = knn_accuracy(x_tr, y_tr, x_te, y_te, k=k)
        assert np.isclose(np.mean(res.predictions == res.targets), res.accuracy)
        assert (res.scores.argmax(1) == res.predictions).all()
        rep = classification_report(res, [f"c{i}" for i in range(6)])
        assert rep["labels"][0] == "c0" and rep["top1"] <= rep["top5"] == res.metrics["top5"]
    assert top_k_accuracy([0, 1], [[0.9, 0.1, 0.0], [0.9, 0.1, 0.0]], 1) == 0.5
    assert top_k_accuracy([0, 1], [[0.9, 0.1, 0.0], [0.9, 0.1, 0.0]], 2) == 1.0
    cm = confusion_matrix([0, 0, 0, 1, -1], [0, 0, 1, 1, 0], 2)
    assert cm.tolist() == [[2, 1], [0, 1]]
    assert np.isclose(mean_class_accuracy([0, 0, 0, 1], [0, 0, 1, 1], 2), (2 / 3 + 1) / 2)


def test_linear_probe_progress_bar(capsys):
    from slimkit import linear_probe

    rng = np.random.default_rng(0)
    linear_probe(rng.normal(size=(40, 4)), np.arange(40) % 2, rng.normal(size=(10, 4)), np.arange(10) % 2,
                 epochs=2, show_progress_bar=True)
    assert "linear probe" in capsys.readouterr().err
    linear_probe(rng.normal(size=(40, 4)), np.arange(40) % 2, rng.normal(size=(10, 4)), np.arange(10) % 2,
                 epochs=2)
    assert "linear probe" not in capsys.readouterr().err  # off by default for precomputed features


# ---- item 8: search -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def indexed(clips, tmp_path_factory):
    d = tmp_path_factory.mktemp("idx")
    assert main(["embed", str(clips / "set.pkl"), "-m", str(clips / "model"), "-o", str(d / "e.npy"), "-q"]) == 0
    assert main(["index", str(d / "e.npy"), "-o", str(d / "i.slimidx")]) == 0
    side = json.loads((d / "e.json").read_text())
    side["classes"] = ["walk", "wave", "jump"]
    (d / "e.json").write_text(json.dumps(side))
    assert main(["index", str(d / "e.npy"), "-o", str(d / "i.slimidx")]) == 0
    return d


def test_search_by_id_excluding_self_with_class_names(indexed, tmp_path, capsys):
    out = tmp_path / "hits.json"
    rc, _, err = run(capsys, "search", indexed / "i.slimidx", "--queries", indexed / "e.npy", "--ids", "s07",
                     "s13", "-k", 3, "--exclude-self", "-o", out, "-q")
    assert rc == 0, err
    res = json.loads(out.read_text())
    assert [r["query"] for r in res] == ["s07", "s13"] and [r["row"] for r in res] == [7, 13]
    for r in res:
        assert len(r["hits"]) == 3 and r["query"] not in [h["id"] for h in r["hits"]]
        assert r["class"] == ["walk", "wave", "jump"][r["label"]]
        assert all(h["class"] == ["walk", "wave", "jump"][h["label"]] for h in r["hits"])
    rc, _, _ = run(capsys, "search", indexed / "i.slimidx", "--queries", indexed / "e.npy", "--ids", "s07",
                   "-k", 3, "-o", out, "-q")
    assert json.loads(out.read_text())[0]["hits"][0]["id"] == "s07"  # without the flag it finds itself first


def test_search_unknown_id_suggests_close_ones(indexed, capsys):
    rc, _, err = run(capsys, "search", indexed / "i.slimidx", "--queries", indexed / "e.npy", "--ids", "s7")
    assert rc == 1 and "s7" in err and "close" in err


# ---- item 9: pretraining feedback ------------------------------------------------------------------------------
def test_pretrain_prints_monitor_and_setup_and_plot_metrics(clips, tmp_path, capsys):
    run_dir = tmp_path / "r"
    rc, out, err = run(
        capsys, "pretrain", clips / "set.pkl", "--split", "train", "--eval-split", "test", "--preset", "tiny",
        "-o", run_dir, "--batch-size", 4, "--max-steps", 2, "--device", "cpu",
    )
    assert rc == 0, err
    assert err.splitlines()[0].startswith("reading ")  # said before anything slow
    assert "kNN monitor (leave-one-out 1-NN, eval split) top-1" in err
    assert "kNN monitor top-1" in out
    rc, out, err = run(capsys, "plot-metrics", run_dir)
    assert rc == 0, err
    from PIL import Image

    with Image.open(run_dir / "metrics.png") as im:
        assert im.size[0] > 400
    rc, _, err = run(capsys, "plot-metrics", run_dir, "--keys", "nope")
    assert rc == 1 and "recorded:" in err


# ---- the same on real files -------------------------------------------------------------------------------------
@pytest.fixture
def penn_subset(shared_data, tmp_path):
    """Real Penn Action files: 1516.mat (no visible joint) and a few train and test videos, linked."""
    src = shared_data / "penn-action" / "labels"
    if not (src / "1516.mat").is_file():
        pytest.skip(f"Penn Action not found at {src}")
    d = tmp_path / "labels"
    d.mkdir()
    for n in ["1516"] + [f"{i:04d}" for i in range(1, 2327, 97)]:
        (d / f"{n}.mat").symlink_to(src / f"{n}.mat")
    return d


def test_penn_action_runs_end_to_end(penn_subset, tmp_path, capsys):
    bad = str(penn_subset / "1516.mat")
    rc, _, err = run(capsys, "pretrain", penn_subset, "--split", "train", "--preset", "tiny", "-o",
                     tmp_path / "r", "--batch-size", 4, "--max-steps", 1, "--device", "cpu", "-q")
    assert rc == 0, err
    assert bad in err and "skipped 1 of" in err
    cfg = SLiMEncoder.from_pretrained(tmp_path / "r" / "encoder").config
    assert (cfg.layout, cfg.in_channels, cfg.normalize_scale) == ("penn13", 2, True)
    emb = tmp_path / "penn.npy"
    rc, _, err = run(capsys, "embed", penn_subset, "-m", tmp_path / "r" / "encoder", "-o", emb, "-q")
    assert rc == 0, err
    side = json.loads(emb.with_suffix(".json").read_text())
    i = side["ids"].index("1516")
    assert side["valid"][i] is False and not np.load(emb)[i].any() and sum(side["valid"]) == len(side["ids"]) - 1
    rc, out, err = run(capsys, "evaluate", penn_subset, "-m", tmp_path / "r" / "encoder", "-k", 1, "5",
                       "-o", tmp_path / "e.json", "--no-plots", "-q")
    assert rc == 0, err
    res = json.loads((tmp_path / "e.json").read_text())
    assert (res["train_split"], res["test_split"]) == ("train", "test")
    assert res["reports"]["knn_k1"]["labels"][0] == "baseball_pitch"


def test_nwucla_search_by_id_with_shipped_model(shared_data, tmp_path, capsys):
    src = shared_data / "nw-ucla" / "all_sqe"
    if not src.is_dir():
        pytest.skip(f"NW-UCLA not found at {src}")
    d = tmp_path / "ucla"
    d.mkdir()
    files = sorted(src.glob("*.json"))[::60]
    for f in files:
        (d / f.name).symlink_to(f)
    rc, _, err = run(capsys, "embed", d, "-m", "slim-kinect-tiny", "-o", tmp_path / "u.npy", "-q")
    assert rc == 0, err
    rc, _, err = run(capsys, "index", tmp_path / "u.npy", "-o", tmp_path / "u.slimidx")
    assert rc == 0, err
    q = files[3].stem
    rc, _, err = run(capsys, "search", tmp_path / "u.slimidx", "--queries", tmp_path / "u.npy", "--ids", q,
                     "--exclude-self", "-k", 2, "-o", tmp_path / "h.json", "-q")
    assert rc == 0, err
    (res,) = json.loads((tmp_path / "h.json").read_text())
    assert res["query"] == q and res["class"] and q not in [h["id"] for h in res["hits"]]
    assert all(h["class"] for h in res["hits"])


def test_penn_action_pretrains_as_coco17_when_asked(penn_subset, tmp_path, capsys):
    rc, _, err = run(capsys, "pretrain", penn_subset, "--split", "train", "--layout", "coco17", "--preset", "tiny",
                     "-o", tmp_path / "r", "--batch-size", 4, "--max-steps", 1, "--device", "cpu", "-q")
    assert rc == 0, err
    assert "converting joints from the file's layout 'penn13' to --layout 'coco17'" in err
    cfg = SLiMEncoder.from_pretrained(tmp_path / "r" / "encoder").config
    assert (cfg.layout, cfg.in_channels) == ("coco17", 2)


def test_screened_embeds_and_screens_in_one_pass(rng):
    from slimkit.checks import Screened

    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=32, depth=1))
    seqs = [random_walk(rng, 20, 20) for _ in range(4)]
    seqs[2] = np.full_like(seqs[2], np.nan)
    reads = []

    class Counting(list):
        def __getitem__(self, i):
            reads.append(i)
            return super().__getitem__(i)

    screened = Screened(Counting(seqs), in_channels=3)
    z = enc.embed(screened, batch_size=2)
    assert sorted(reads) == [0, 1, 2, 3]  # each sequence read once
    assert screened.usable.tolist() == [True, True, False, True] and np.isfinite(z).all()
    np.testing.assert_allclose(z[[0, 1, 3]], enc.embed([seqs[0], seqs[1], seqs[3]]), atol=1e-5)


def test_help_lists_the_new_commands(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0 and "models" in out and "plot-metrics" in out
    for cmd in ("models", "plot-metrics"):
        rc, out, _ = run(capsys, cmd, "--help")
        assert rc == 0 and "examples:" in out and f"slimkit {cmd}" in out
    rc, out, _ = run(capsys, "pretrain", "--help")
    assert "--normalize-scale" in out and "--no-normalize-scale" in out
    rc, out, _ = run(capsys, "search", "--help")
    assert "--ids" in out and "--exclude-self" in out


def test_plot_confusion_matrix_checks_its_input(tmp_path):
    from slimkit.viz import plot_confusion_matrix

    fig = plot_confusion_matrix([[3, 1], [0, 2]], ["a", "b"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 1000 and fig.axes
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="expected 2 names"):
        plot_confusion_matrix([[3, 1], [0, 2]], ["a"])
