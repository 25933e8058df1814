import json
import shutil

import numpy as np
import pytest
import torch
from conftest import random_walk
from safetensors.torch import load_file, save_file

import slimkit.hub as hub
import slimkit.registry as registry
from slimkit import SLiMConfig, SLiMEncoder


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(1)
    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20"))
    enc.card_info = {"training_data": "synthetic random walks", "results": {"kNN top-1": "12.3 %"}}
    d = tmp_path_factory.mktemp("model") / "tiny"
    enc.save_pretrained(d)
    return enc, d


@pytest.fixture
def seqs(rng):
    return [random_walk(rng, t, 20) for t in (5, 17, 40)]


def test_save_writes_config_weights_card(saved):
    enc, d = saved
    assert sorted(p.name for p in d.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["layout"] == "kinect20" and cfg["num_frames"] == 32 and cfg["dim"] == 64
    card = (d / "README.md").read_text()
    for needle in ("library_name: slimkit", "kinect20", "32 frames", "tiny", "synthetic random walks", "12.3 %"):
        assert needle in card
    assert not list(d.parent.glob(".tiny.tmp-*"))  # no temp folder left behind


def test_round_trip_reproduces_embeddings_exactly(saved, seqs):
    enc, d = saved
    loaded = SLiMEncoder.from_pretrained(d)
    assert not loaded.training
    assert loaded.config == enc.config
    np.testing.assert_array_equal(loaded.embed(seqs), enc.embed(seqs))


def test_save_over_existing_folder_replaces_files(saved, tmp_path, seqs):
    enc, d = saved
    target = tmp_path / "m"
    shutil.copytree(d, target)
    other = SLiMEncoder(SLiMConfig.tiny(layout="kinect20"))
    other.save_pretrained(target)
    np.testing.assert_array_equal(SLiMEncoder.from_pretrained(target).embed(seqs), other.embed(seqs))


def test_strict_loading_names_tensors(saved, tmp_path):
    _, d = saved
    bad = tmp_path / "bad"
    shutil.copytree(d, bad)
    state = load_file(bad / "model.safetensors")
    state["extra.weight"] = torch.zeros(2)
    save_file(state, bad / "model.safetensors")
    with pytest.raises(ValueError, match=r"unexpected tensors \['extra.weight'\]"):
        SLiMEncoder.from_pretrained(bad)
    state.pop("extra.weight")
    state["norm.weight"] = torch.zeros(65)
    save_file(state, bad / "model.safetensors")
    with pytest.raises(ValueError, match=r"norm.weight: expected \(64,\), got \(65,\)"):
        SLiMEncoder.from_pretrained(bad)
    state.pop("norm.weight")
    save_file(state, bad / "model.safetensors")
    with pytest.raises(ValueError, match=r"missing tensors \['norm.weight'\]"):
        SLiMEncoder.from_pretrained(bad)


def test_config_mismatch_with_weights_is_an_error(saved, tmp_path):
    _, d = saved
    bad = tmp_path / "bad"
    shutil.copytree(d, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["dim"] = 32
    cfg["heads"] = 2
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="shape mismatch"):
        SLiMEncoder.from_pretrained(bad)


@pytest.mark.parametrize("key, value, exc, msg", [
    ("colour", "red", ValueError, r"unknown keys \['colour'\]"),
    ("depth", "2", TypeError, r"config key 'depth': expected int, got str"),
    ("center", 1, TypeError, r"config key 'center': expected bool"),
    ("num_frames", 30, ValueError, "num_frames: expected a positive multiple of t_patch=4"),
])
def test_bad_config_keys(saved, tmp_path, key, value, exc, msg):
    _, d = saved
    bad = tmp_path / "bad"
    shutil.copytree(d, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg[key] = value
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(exc, match=msg):
        SLiMEncoder.from_pretrained(bad)


def test_pickle_only_folder_is_refused(saved, tmp_path):
    enc, d = saved
    p = tmp_path / "pickled"
    p.mkdir()
    shutil.copy(d / "config.json", p)
    torch.save(enc.state_dict(), p / "pytorch_model.bin")
    with pytest.raises(ValueError, match="only pickle weights.*safetensors"):
        SLiMEncoder.from_pretrained(p)


def test_corrupted_weights_are_a_clear_error(saved, tmp_path):
    _, d = saved
    bad = tmp_path / "bad"
    shutil.copytree(d, bad)
    (bad / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        SLiMEncoder.from_pretrained(bad)


def test_mistyped_local_path_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such local folder"):
        SLiMEncoder.from_pretrained(str(tmp_path / "typo_dir"))
    with pytest.raises(FileNotFoundError):
        SLiMEncoder.from_pretrained("./typo_dir")


def _fake_cache(cache, repo, folder, revisions):
    root = cache / f"models--{repo.replace('/', '--')}"
    for ref, sha in revisions.items():
        snap = root / "snapshots" / sha
        shutil.copytree(folder, snap)
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / ref).write_text(sha)
    return root


def test_hub_cache_offline_with_revision(saved, tmp_path, seqs):
    enc, d = saved
    other = tmp_path / "other"
    e2 = SLiMEncoder(SLiMConfig.tiny(layout="kinect20"))
    e2.save_pretrained(other)
    cache = tmp_path / "cache"
    _fake_cache(cache, "slimkit-test/tiny", d, {"main": "a" * 40})
    _fake_cache(cache, "slimkit-test/tiny", other, {"v1": "b" * 40})
    main = SLiMEncoder.from_pretrained("slimkit-test/tiny", cache_dir=cache)
    np.testing.assert_array_equal(main.embed(seqs), enc.embed(seqs))
    tagged = SLiMEncoder.from_pretrained("slimkit-test/tiny", cache_dir=cache, revision="v1")
    np.testing.assert_array_equal(tagged.embed(seqs), e2.embed(seqs))
    by_sha = SLiMEncoder.from_pretrained("slimkit-test/tiny", cache_dir=cache, revision="b" * 40)
    np.testing.assert_array_equal(by_sha.embed(seqs), e2.embed(seqs))
    with pytest.raises(OSError, match="not a local folder, and the Hub repo could not be loaded"):
        SLiMEncoder.from_pretrained("slimkit-test/missing", cache_dir=cache)


def test_packaged_model_fallback(saved, tmp_path, monkeypatch, seqs):
    enc, d = saved
    pkg = tmp_path / "pretrained"
    shutil.copytree(d, pkg / "slim-test-tiny")
    monkeypatch.setattr(registry, "PACKAGED_DIR", pkg)
    assert "slimkit/slim-test-tiny" in hub.list_pretrained()
    loaded = SLiMEncoder.from_pretrained("slimkit/slim-test-tiny", cache_dir=tmp_path / "empty-cache")
    np.testing.assert_array_equal(loaded.embed(seqs), enc.embed(seqs))


def test_packaged_model_used_when_the_hub_cannot_serve_it(saved, tmp_path, monkeypatch, seqs):
    enc, d = saved
    pkg = tmp_path / "pretrained"
    shutil.copytree(d, pkg / "slim-test-tiny")
    monkeypatch.setattr(registry, "PACKAGED_DIR", pkg)
    monkeypatch.setattr(hub, "_hub_reachable", lambda timeout=2.0: True)  # "online", but the repo is not there
    loaded = SLiMEncoder.from_pretrained("slimkit/slim-test-tiny", cache_dir=tmp_path / "empty-cache")
    np.testing.assert_array_equal(loaded.embed(seqs), enc.embed(seqs))


def test_shipped_model_loads_offline(seqs):
    assert "slimkit/slim-kinect-tiny" in hub.list_pretrained()
    enc = SLiMEncoder.from_pretrained("slimkit/slim-kinect-tiny")
    c = enc.config
    assert c.layout == "kinect20" and c.view_align and (c.pooling, c.contrast_view) == ("time_max", "clean")
    assert c.contrast_pooling == "time_max" and enc.embed_dim == 576
    z = enc.embed(seqs)
    assert z.shape == (3, enc.embed_dim) and np.isfinite(z).all()
    card = (registry.PACKAGED_DIR / "slim-kinect-tiny" / "README.md").read_text()
    assert all(name in card for name in ("NW-UCLA", "Kinder-Gator", "HDM05", "Bandai-Namco"))
    assert (registry.PACKAGED_DIR / "slim-kinect-tiny" / "model.safetensors").stat().st_size < 5 * 2**20


def test_shipped_2d_model_loads_offline_and_reads_coco_keypoints(rng):
    enc = SLiMEncoder.from_pretrained("slimkit/slim-penn-coco17-tiny")
    c = enc.config
    assert (c.layout, c.in_channels, c.normalize_scale) == ("coco17", 2, True)
    # pixel keypoints with scores, one of them invisible (score 0): finite, unit-norm embeddings
    xy = 300 + 50 * rng.normal(size=(2, 40, 17, 2)).cumsum(1)
    score = np.ones((2, 40, 17, 1))
    score[:, :, 3] = 0.0
    z = enc.embed(list(np.concatenate([xy, score], -1).astype(np.float32)))
    assert z.shape == (2, enc.embed_dim) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    card = (registry.PACKAGED_DIR / "slim-penn-coco17-tiny" / "README.md").read_text()
    assert "Penn Action" in card and "floor: raw coordinates" in card
    assert (registry.PACKAGED_DIR / "slim-penn-coco17-tiny" / "model.safetensors").stat().st_size < 5 * 2**20


def test_push_to_hub_uploads_saved_folder(saved, monkeypatch):
    from huggingface_hub import HfApi

    enc, _ = saved
    seen = {}

    class Repo:
        repo_id = "me/my-slim"

    def create_repo(self, repo_id, **kw):
        seen["created"] = repo_id
        return Repo()

    def upload_folder(self, repo_id, folder_path, **kw):
        seen["files"] = sorted(p.name for p in folder_path.iterdir())
        seen["config"] = json.loads((folder_path / "config.json").read_text())
        return "https://hub.invalid/commit/1"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    url = enc.push_to_hub("me/my-slim")
    assert url.endswith("/commit/1")
    assert seen["created"] == "me/my-slim"
    assert seen["files"] == ["README.md", "config.json", "model.safetensors"]
    assert seen["config"]["layout"] == "kinect20"


def test_config_from_dict_round_trip_and_presets():
    c = SLiMConfig.small(layout="coco17", in_channels=2)
    assert SLiMConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert SLiMConfig.from_dict({"mlp_ratio": 4}).mlp_ratio == 4.0
    with pytest.raises(TypeError, match="config must be a dict"):
        SLiMConfig.from_dict([1])
    with pytest.raises(ValueError, match="dim: expected a multiple of heads=3"):
        SLiMConfig(dim=64, heads=3)
