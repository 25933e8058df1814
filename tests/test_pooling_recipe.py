"""Time-ordered pooling, the pretraining recipe switches and multi-set corpora (issue: embeddings that beat raw
coordinates)."""

import json

import numpy as np
import pytest
import torch
from conftest import random_walk

from slimkit import SLiMConfig, SLiMEncoder, Trainer
from slimkit.data import SkeletonDataset
from slimkit.layouts import get_layout
from slimkit.train import SLiMPretrainModel
from slimkit.train.corpus import WeightedResumableSampler as _WeightedResumableSampler


@pytest.fixture(scope="module")
def enc():
    torch.manual_seed(0)
    return SLiMEncoder(SLiMConfig.tiny(layout="kinect20")).eval()


def test_time_pooling_is_the_default_and_keeps_order(enc, rng):
    assert enc.config.pooling == "time_max" and enc.embed_dim == enc.config.dim * (enc.config.time_bins + 1)
    seq = random_walk(rng, 40, 20)
    fwd, rev = enc.embed(seq), enc.embed(seq[::-1].copy())
    # a motion and its reverse ("sit down" / "stand up") must not embed alike
    assert float(fwd[0] @ rev[0]) < 0.99
    # the bins are in time order: the first bin of the reversed sequence's embedding is built from the end
    # of the original, so swapping bins of one embedding does not give the other
    d = enc.config.dim
    raw_f = enc.embed(seq, normalize=False)[0].reshape(-1, d)
    raw_r = enc.embed(seq[::-1].copy(), normalize=False)[0].reshape(-1, d)
    assert not np.allclose(raw_f, raw_r, atol=1e-3)


def test_time_bins_fix_the_width_for_any_view_length(enc, rng):
    x = torch.from_numpy(np.stack([random_walk(rng, 32, 20)]))[:, None]
    for t in (8, 16, 32):
        z = enc.encode(enc.preprocess(x[0, 0].numpy())[:, :, :t])
        assert z.shape == (1, enc.embed_dim)


def test_mean_pooling_matches_mean_of_tokens(rng):
    torch.manual_seed(0)
    e = SLiMEncoder(SLiMConfig.tiny(layout="kinect20", pooling="mean")).eval()
    seq = random_walk(rng, 30, 20)
    tok = e.embed(seq, output_value="tokens", normalize=False)
    z = e.embed(seq, normalize=False)
    assert z.shape == (1, e.config.dim)
    np.testing.assert_allclose(z[0], tok[0, 0].mean(0), atol=1e-5)


def test_config_without_pooling_field_loads_mean_pooled(tmp_path):
    """Models saved before ``pooling`` existed were trained mean-pooled, and keep embedding that way."""
    torch.manual_seed(0)
    e = SLiMEncoder(SLiMConfig.tiny(layout="kinect20"))
    e.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["pooling"] == "time_max"
    del cfg["pooling"], cfg["time_bins"], cfg["contrast_pooling"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    old = SLiMEncoder.from_pretrained(tmp_path)
    assert old.config.pooling == "mean" and old.embed_dim == old.config.dim
    with pytest.raises(ValueError, match="pooling"):
        SLiMConfig.tiny(pooling="max")
    with pytest.raises(ValueError, match="contrast_view"):
        SLiMConfig.tiny(contrast_view="noisy")


def _batch(rng, cfg, n=4):
    enc = SLiMEncoder(cfg)
    g = torch.from_numpy(np.stack([random_walk(rng, cfg.num_frames, 20) for _ in range(2 * n)]))[:, None]
    p, groups = enc.token_grid()
    mask = torch.zeros(2 * n, p * groups, dtype=torch.bool)
    mask[:, : p * groups // 2] = True
    return enc, g, mask


@pytest.mark.parametrize("view", ["clean", "masked"])
def test_contrast_view_switch_decides_what_the_queries_see(rng, view):
    """With clean-view queries the contrastive loss does not depend on the mask; with masked ones it does."""
    torch.manual_seed(0)
    cfg = SLiMConfig.tiny(layout="kinect20", max_persons=1, contrast_view=view, num_local_views=0)
    enc, g, mask = _batch(rng, cfg)
    model = SLiMPretrainModel(enc).eval()
    with torch.no_grad():
        t_tokens = enc(g)
        keys = list(model.projector(enc.encode(g)).chunk(2))
        _, a = model(g, mask, None, t_tokens, keys)
        _, b = model(g, ~mask, None, t_tokens, keys)
    same = torch.allclose(a["glcl"], b["glcl"], atol=1e-6)
    assert same == (view == "clean")
    assert not torch.allclose(a["mfm"], b["mfm"])


def test_loss_weights_zero_skip_their_term(rng):
    torch.manual_seed(0)
    cfg = SLiMConfig.tiny(layout="kinect20", max_persons=1, mfm_weight=0.0, num_local_views=0)
    enc, g, mask = _batch(rng, cfg)
    model = SLiMPretrainModel(enc)
    t_tokens = enc(g).detach()
    keys = [k.detach() for k in model.projector(enc.encode(g)).chunk(2)]
    total, parts = model(g, mask, None, t_tokens, keys)
    assert parts["mfm"] == 0 and torch.allclose(total, parts["glcl"])
    total.backward()
    assert enc.mask_token.grad is None  # no masked forward ran


def test_corpus_of_two_layouts_is_converted_and_weighted(tmp_path, rng):
    ntu = SkeletonDataset([random_walk(rng, 20, 25) for _ in range(30)], layout="ntu25")
    k20 = SkeletonDataset([random_walk(rng, 20, 20) for _ in range(10)], layout="kinect20")
    cfg = SLiMConfig.tiny(layout="ntu25", max_persons=1)
    tr = Trainer(cfg, [ntu, k20], tmp_path, batch_size=8, dataset_weights=[1, 3], show_progress_bar=False)
    assert len(tr.dataset) == 40
    # the kinect20 items come in the model's layout, the joints kinect20 lacks (hand tips, thumbs) missing
    x, _ = tr.dataset[35]
    lay = get_layout("ntu25")
    assert x.shape[-2:] == (25, 3)
    lacks = [lay.index(j) for j in ("l_hand_tip", "l_thumb", "r_hand_tip", "r_thumb")]
    assert torch.isnan(x[0, :, lacks]).all() and torch.isfinite(x[0, :, lay.index("spine_base")]).all()
    # weights 1:3 -> a quarter of the draws from the 30 NTU sequences, three quarters from the 10 Kinect ones
    s = _WeightedResumableSampler(tr.dataset, 1, 0, seed=0, item_weights=tr.item_weights)
    draws = []
    for epoch in range(50):
        s.set_epoch(epoch)
        draws += list(s)
    share = np.mean(np.asarray(draws) >= 30)
    assert abs(share - 0.75) < 0.03, share
    s.set_epoch(3)
    assert list(s) == list(s)  # deterministic per epoch (resumable)
    with pytest.raises(ValueError, match="dataset_weights"):
        Trainer(cfg, [ntu, k20], tmp_path, dataset_weights=[1.0], show_progress_bar=False)


def test_corpus_pretraining_runs_and_learns(tmp_path, rng):
    a = [random_walk(rng, 24, 20) for _ in range(16)]
    b = SkeletonDataset([random_walk(rng, 24, 25) for _ in range(16)], layout="ntu25")
    cfg = SLiMConfig.tiny(layout="kinect20", max_persons=1, dim=32, heads=2, depth=1)
    tr = Trainer(cfg, [a, b], tmp_path, batch_size=8, epochs=2, lr=1e-3, dataset_weights=[1, 1],
                 show_progress_bar=False, log_every=1)
    out = tr.fit()
    assert tr.global_step == 8 and np.isfinite(out["loss"])
    assert tr.encoder.embed(a[:2]).shape == (2, tr.encoder.embed_dim)


def test_support_size_swaps_positives_for_neighbours_of_other_samples(rng):
    """``support_size > 0``: the step fills a bank with the teacher keys of the sample ids it is given, and the
    contrastive positives of later batches come from other samples' keys, which changes the loss."""
    from slimkit.train import PretrainStep
    from slimkit.transforms import PerSampleGenerator

    x = torch.from_numpy(np.stack([random_walk(rng, 32, 20) for _ in range(6)]))[:, None]
    lengths = torch.full((6,), 32)
    losses = {}
    for size in (0, 16):
        torch.manual_seed(0)
        cfg = SLiMConfig.tiny(layout="kinect20", max_persons=1, support_size=size)
        step = PretrainStep(SLiMPretrainModel(SLiMEncoder(cfg)))
        with torch.no_grad():
            step.loss(x, lengths, PerSampleGenerator(torch.arange(6)), ids=torch.arange(6))
            losses[size] = step.loss(x, lengths, PerSampleGenerator(torch.arange(6) + 6), ids=torch.arange(6))
        if size:
            ids = sorted(step.support.bank_ids[:12].tolist())
            assert step.support.filled == 12 and ids == sorted(2 * list(range(6)))
    assert torch.isfinite(losses[16][0]) and not torch.allclose(losses[0][1]["glcl"], losses[16][1]["glcl"])
    torch.testing.assert_close(losses[0][1]["mfm"], losses[16][1]["mfm"])
    with pytest.raises(ValueError, match="support_size"):
        SLiMConfig.tiny(support_size=-1)


def test_time_max_pooling_is_the_time_bins_then_the_token_max(rng):
    torch.manual_seed(0)
    e = SLiMEncoder(SLiMConfig.tiny(layout="kinect20", pooling="time_max")).eval()
    assert e.embed_dim == e.config.dim * (e.config.time_bins + 1)
    seq = random_walk(rng, 30, 20)
    tok = torch.as_tensor(e.embed(seq, output_value="tokens", normalize=False))
    z = e.embed(seq, normalize=False)
    e.config.pooling = "time"
    bins = e.embed(seq, normalize=False)
    np.testing.assert_allclose(z[0, : bins.shape[1]], bins[0], atol=1e-6)
    np.testing.assert_allclose(z[0, bins.shape[1]:], tok[0, 0].amax(0).numpy(), atol=1e-6)


def test_contrast_pooling_is_what_the_head_sees_and_old_configs_keep_theirs(rng):
    """``pooling`` decides what ``embed()`` returns; ``contrast_pooling`` what the contrastive head pools in
    pretraining. A config.json without ``contrast_pooling`` trained its head with its embedding's pooling."""
    from slimkit.train import EMATeacher

    torch.manual_seed(0)
    cfg = SLiMConfig.tiny(layout="kinect20", max_persons=1, pooling="time_max", contrast_pooling="mean")
    model = SLiMPretrainModel(SLiMEncoder(cfg))
    assert model.encoder.embed_dim == 9 * 64 and model.projector.fc1.in_features == 64
    x = torch.from_numpy(np.stack([random_walk(rng, 32, 20) for _ in range(3)]))[:, None]
    teacher = EMATeacher(model)
    _, keys = teacher(x, 1)
    torch.testing.assert_close(keys[0], teacher.projector(teacher.encoder(x).mean(2)[:, 0]))
    d = SLiMConfig.tiny(pooling="time").to_dict()
    del d["contrast_pooling"], d["mfm_target_center"]
    old = SLiMConfig.from_dict(d)
    assert old.contrast_pooling == "time" and old.mfm_target_center is False
    assert SLiMConfig.from_dict(SLiMConfig.tiny().to_dict()).mfm_target_center is True
    del d["pooling"]
    c = SLiMConfig.from_dict(d)
    assert (c.pooling, c.contrast_pooling) == ("mean", "mean")
    with pytest.raises(ValueError, match="contrast_pooling"):
        SLiMConfig.tiny(contrast_pooling="max")
