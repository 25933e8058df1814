"""SLiMClassifier: built from linear_probe / finetune results, reproduces their accuracy, saves and loads,
and `slimkit predict` / `slimkit evaluate --save-classifier` through slimkit.cli.main."""

import importlib.util
import json
import shutil

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA, random_walk

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.classifier import SLiMClassifier
from slimkit.cli import main
from slimkit.eval import finetune, linear_probe

needs_faiss = pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="faiss not installed")


@pytest.fixture(scope="module")
def ucla(tmp_path_factory):
    """About 80 real NW-UCLA sequences (every 18th file) copied to a temporary folder, loaded."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    from slimkit.data import load

    d = tmp_path_factory.mktemp("ucla")
    for f in sorted((SHARED_DATA / "nw-ucla" / "all_sqe").glob("*.json"))[::18]:
        shutil.copy(f, d / f.name)
    return d, load(d)


@pytest.fixture(scope="module")
def probed(ucla):
    _, ds = ucla
    enc = SLiMEncoder.from_pretrained("slimkit/slim-kinect-tiny")
    tr, te = ds.subset("train"), ds.subset("test")
    res = linear_probe(tr, None, te, None, encoder=enc, epochs=20, batch_size=32, augment=False, device="cpu")
    return enc, res, tr, te


def test_probe_result_carries_the_head_and_the_default_return_is_unchanged(probed):
    enc, res, _, _ = probed
    assert isinstance(float(res), float) and 0.0 <= res.accuracy <= 1.0
    assert isinstance(res.model, torch.nn.Sequential) and res.model[1].out_features == len(res.classes)
    assert res.metrics["features"] == "encoder"


def test_classifier_reproduces_the_measured_accuracy_on_real_data(probed, ucla):
    enc, res, _, te = probed
    _, ds = ucla
    clf = res.to_classifier(enc, class_names=ds.classes, training_data="NW-UCLA subset, views 1+2")
    pred = clf.predict(te, device="cpu")
    truth = [ds.classes[v] for v in te.labels]
    assert np.mean(np.array(pred.names) == np.array(truth)) == pytest.approx(res.accuracy, abs=1e-6)
    np.testing.assert_allclose(pred.probabilities.sum(1), 1.0, atol=1e-5)
    assert (pred.confidence == pred.probabilities.max(1)).all()
    top = pred.top_k(3)
    assert top[0][0][0] == pred.names[0] and len(top[0]) == 3


def test_save_load_and_card(probed, ucla, tmp_path):
    enc, res, _, te = probed
    _, ds = ucla
    clf = res.to_classifier(enc, class_names=ds.classes, training_data="NW-UCLA subset, views 1+2")
    clf.save_pretrained(tmp_path / "clf")
    assert sorted(p.name for p in (tmp_path / "clf").iterdir()) == ["README.md", "config.json",
                                                                    "model.safetensors"]
    back = SLiMClassifier.from_pretrained(tmp_path / "clf")
    assert back.classes == list(ds.classes)
    np.testing.assert_array_equal(back.predict_proba(te, device="cpu"), clf.predict_proba(te, device="cpu"))
    card = (tmp_path / "clf" / "README.md").read_text()
    assert f"{100 * res.accuracy:.2f} %" in card and "NW-UCLA subset, views 1+2" in card
    assert "linear probe (MAMP)" in card and "donning" in card and "test data" in card
    with pytest.raises(ValueError, match="not a slimkit classifier"):
        SLiMClassifier.from_pretrained(_encoder_dir(tmp_path))
    with pytest.raises(ValueError, match="SLiMClassifier.from_pretrained"):
        SLiMEncoder.from_pretrained(tmp_path / "clf")


def _encoder_dir(tmp_path):
    SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=16, depth=1)).save_pretrained(tmp_path / "enc")
    return tmp_path / "enc"


def test_needs_an_encoder_for_a_probe_and_warns_on_precomputed_features(rng):
    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=16, depth=1))
    x = rng.normal(size=(20, enc.embed_dim)).astype(np.float32)
    y = np.arange(20) % 2
    res = linear_probe(x, y, x, y, epochs=2, batch_size=8)
    with pytest.raises(ValueError, match="encoder"):
        res.to_classifier()
    narrow = linear_probe(x[:, :3], y, x[:, :3], y, epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="3 features"):
        narrow.to_classifier(enc)
    with pytest.warns(UserWarning, match="precomputed"):
        clf = res.to_classifier(enc, class_names={0: "left", 1: "right"})
    assert clf.classes == ["left", "right"]
    with pytest.raises(ValueError, match="class_names"):
        res.to_classifier(enc, class_names=["only one"])


def test_finetune_result_becomes_a_classifier(rng):
    torch.manual_seed(0)
    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=16, depth=1))
    seqs = [random_walk(rng, 24, 20) for _ in range(12)]
    labels = np.arange(12) % 3
    res = finetune(seqs[:8], labels[:8], seqs[8:], labels[8:], encoder=enc, epochs=1, batch_size=4,
                   warmup_epochs=0, device="cpu")
    clf = res.to_classifier(class_names=["a", "b", "c"])
    assert not clf.config.head_norm
    # the classifier's encoder is the fine-tuned copy, not the caller's encoder
    assert not torch.equal(clf.encoder.blocks[0].mlp[0].weight, enc.blocks[0].mlp[0].weight)
    pred = clf.predict(seqs[8:], device="cpu")
    acc = np.mean(pred.labels == labels[8:])
    assert acc == pytest.approx(res.accuracy)


@needs_faiss
def test_cli_evaluate_save_classifier_then_predict(ucla, tmp_path, capsys):
    d, ds = ucla
    rc = main(["evaluate", str(d), "--train-split", "train", "--test-split", "test", "-m",
               "slimkit/slim-kinect-tiny", "--linear-probe", "--probe-epochs", "3", "--device", "cpu",
               "--save-classifier", str(tmp_path / "clf"), "-o", str(tmp_path / "eval.json"), "-q"])
    assert rc == 0
    measured = json.loads((tmp_path / "eval.json").read_text())["linear_probe_top1"]
    capsys.readouterr()
    rc = main(["predict", str(d), "--split", "test", "-m", str(tmp_path / "clf"), "--top-k", "2", "--device", "cpu",
               "-o", str(tmp_path / "pred.json")])
    out, err = capsys.readouterr()
    assert rc == 0
    got = json.loads((tmp_path / "pred.json").read_text())
    assert got["accuracy"] == pytest.approx(measured)
    assert len(got["predictions"]) == len(ds.subset("test"))
    first = got["predictions"][0]
    assert first["prediction"] in ds.classes and len(first["top_k"]) == 2 and first["label"] in ds.classes
    assert f"{100 * measured:.2f} %" in err
    assert first["id"] in out
    rc = main(["predict", str(d), "-m", str(tmp_path / "clf"), "-o", str(tmp_path / "p.csv"), "-q"])
    assert rc == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0].startswith("id,prediction,probability") and len(lines) == len(ds) + 1


def test_cli_predict_errors(tmp_path, capsys):
    enc_dir = _encoder_dir(tmp_path)
    np.save(tmp_path / "x.npy", random_walk(np.random.default_rng(0), 20, 20)[None])
    assert main(["predict", str(tmp_path / "x.npy"), "-m", str(enc_dir)]) == 1
    assert "not a slimkit classifier" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "x.npy"), "--test", str(tmp_path / "x.npy"), "-m", str(enc_dir),
                 "--save-classifier", str(tmp_path / "c")]) == 1
    assert "--linear-probe" in capsys.readouterr().err
