"""SLiM losses against direct reference computations on tiny tensors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import random_walk

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.heads import ProjectionHead
from slimkit.losses import GlobalLocalContrastiveLoss, MaskedFeatureLoss, SLiMLoss
from slimkit.train import SLiMPretrainModel


def _ref_mfm(pred, target, mask, present, kind):
    """Loop over samples, persons and tokens; the obvious definition."""
    n, m, length, d = pred.shape
    per_sample = []
    for i in range(n):
        vals = []
        for p in range(m):
            if not present[i, p]:
                continue
            for t in range(length):
                if not mask[i, t]:
                    continue
                tgt = target[i, p, t]
                tgt = (tgt - tgt.mean()) / torch.sqrt(tgt.var(unbiased=False) + 1e-6)
                diff = pred[i, p, t] - tgt
                if kind == "mse":
                    vals.append(float((diff**2).mean()))
                elif kind == "cosine":
                    vals.append(
                        1 - float(torch.dot(pred[i, p, t], tgt) / (pred[i, p, t].norm() * tgt.norm()))
                    )
                else:
                    a = diff.abs()
                    vals.append(float(torch.where(a < 1, 0.5 * a**2, a - 0.5).mean()))
        if vals:
            per_sample.append(sum(vals) / len(vals))
    return sum(per_sample) / len(per_sample)


@pytest.mark.parametrize("kind", ["smooth_l1", "mse", "cosine"])
def test_mfm_matches_reference(kind):
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 2, 5, 4, generator=g)
    target = torch.randn(3, 2, 5, 4, generator=g) * 3 + 1
    mask = torch.rand(3, 5, generator=g) < 0.5
    mask[:, 0] = True
    present = torch.tensor([[True, True], [True, False], [False, True]])
    got = MaskedFeatureLoss(kind)(pred, target, mask, present)
    assert got.dtype == torch.float32
    assert math.isclose(float(got), _ref_mfm(pred, target, mask, present, kind), rel_tol=1e-5)


def test_mfm_only_masked_positions_of_present_persons_count():
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(2, 2, 6, 8, generator=g, requires_grad=True)
    target = torch.randn(2, 2, 6, 8, generator=g)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0, [1, 4]] = True
    mask[1, [0]] = True
    present = torch.tensor([[True, False], [True, True]])
    loss_fn = MaskedFeatureLoss()
    loss = loss_fn(pred, target, mask, present)
    loss.backward()
    reached = pred.grad.abs().sum(-1) > 0  # (N, M, L)
    expected = mask[:, None, :] & present[:, :, None]
    assert torch.equal(reached, expected)
    # perturbing targets (even to inf) where unmasked or absent changes nothing; where masked, it does
    t2 = target.clone()
    t2[~expected] = float("inf")
    assert torch.equal(loss_fn(pred, t2, mask, present), loss)
    t3 = target.clone()
    t3[0, 0, 4] += torch.arange(8.0)  # a constant shift would vanish in the target's layer norm
    assert not torch.equal(loss_fn(pred, t3, mask, present), loss)


def test_mfm_rejects_bad_inputs():
    x = torch.zeros(2, 1, 4, 3)
    with pytest.raises(TypeError, match="mask"):
        MaskedFeatureLoss()(x, x, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="mask"):
        MaskedFeatureLoss()(x, x, torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="kind"):
        MaskedFeatureLoss("l3")


def _ref_glcl(queries, keys, tau):
    total, pairs = 0.0, 0
    for i, q in enumerate(queries):
        for g, k in enumerate(keys):
            if i == g:
                continue
            for n in range(q.shape[0]):
                sims = [float(F.cosine_similarity(q[n], k[j], dim=0)) / tau for j in range(k.shape[0])]
                lse = math.log(sum(math.exp(s) for s in sims))
                total += (lse - sims[n]) / q.shape[0]
            pairs += 1
    return total / pairs


def test_glcl_matches_reference_and_skips_same_view_pairs():
    g = torch.Generator().manual_seed(2)
    keys = [torch.randn(4, 3, generator=g) for _ in range(2)]
    queries = [torch.randn(4, 3, generator=g) for _ in range(5)]  # 2 global + 3 local views
    got = GlobalLocalContrastiveLoss(0.2)(queries, keys)
    assert math.isclose(float(got), _ref_glcl(queries, keys, 0.2), rel_tol=1e-5)
    # the student's view 0 against the teacher's view 0 is not a pair: making them equal changes nothing
    q2 = [keys[0].clone()] + queries[1:]
    q2_ref = _ref_glcl(q2, keys, 0.2)
    assert math.isclose(float(GlobalLocalContrastiveLoss(0.2)(q2, keys)), q2_ref, rel_tol=1e-5)


def test_glcl_single_view_uses_same_view_pair_and_positive_lowers_loss():
    g = torch.Generator().manual_seed(3)
    k = torch.randn(6, 8, generator=g)
    far = GlobalLocalContrastiveLoss(0.1)([torch.randn(6, 8, generator=g)], [k])
    near = GlobalLocalContrastiveLoss(0.1)([k + 0.01 * torch.randn(6, 8, generator=g)], [k])
    assert float(near) < 0.05 < float(far)
    with pytest.raises(ValueError, match="queries"):
        GlobalLocalContrastiveLoss()([], [k])


def test_glcl_gradient_reaches_queries_not_keys():
    g = torch.Generator().manual_seed(4)
    k = torch.randn(3, 4, generator=g, requires_grad=True)
    q = torch.randn(3, 4, generator=g, requires_grad=True)
    GlobalLocalContrastiveLoss()([q, q * 2], [k]).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0 and k.grad is None


def test_slim_loss_is_weighted_sum():
    g = torch.Generator().manual_seed(5)
    pred, target = torch.randn(2, 1, 4, 6, generator=g), torch.randn(2, 1, 4, 6, generator=g)
    mask = torch.tensor([[True, False, True, False], [False, True, False, False]])
    q, k = (
        [torch.randn(2, 3, generator=g) for _ in range(3)],
        [torch.randn(2, 3, generator=g) for _ in range(2)],
    )
    total, parts = SLiMLoss(0.7, 0.3, 0.1)(pred, target, mask, None, q, k)
    assert math.isclose(float(total), 0.7 * float(parts["mfm"]) + 0.3 * float(parts["glcl"]), rel_tol=1e-6)
    assert math.isclose(float(parts["mfm"]), float(MaskedFeatureLoss()(pred, target, mask)), rel_tol=1e-6)


def test_projection_head_shapes_and_validation():
    h = ProjectionHead(8, 16, 4)
    assert h(torch.zeros(2, 3, 8)).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="hidden_dim"):
        ProjectionHead(8, 0, 4)


def test_pretrain_model_mfm_ignores_teacher_at_visible_tokens():
    """End to end through the student: teacher features at unmasked tokens never reach the loss (with
    ``mfm_target_center`` they enter only through the batch mean of each position)."""
    torch.manual_seed(0)
    enc = SLiMEncoder(SLiMConfig.tiny(num_global_views=2, num_local_views=1, glcl_weight=0.0,
                                      mfm_target_center=False, drop_path=0.0))
    model = SLiMPretrainModel(enc)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(np.stack([random_walk(rng, 32, 25, m=2) for _ in range(4)]))
    x[1, 1] = float("nan")
    p, g = enc.token_grid()
    mask = torch.rand(4, p * g, generator=torch.Generator().manual_seed(0)) < 0.5
    with torch.no_grad():
        t_tokens = enc(x)
        keys = list(torch.randn(4, enc.config.proj_dim).chunk(2))
    local = x[:, :, :16]
    loss, parts = model(x, mask, local, t_tokens, keys)
    changed = t_tokens.clone()
    changed[~mask[:, None, :].expand_as(changed[..., 0])] = 123.0
    loss2, parts2 = model(x, mask, local, changed, keys)
    assert torch.equal(parts["mfm"], parts2["mfm"])
    changed[mask[:, None, :].expand_as(changed[..., 0])] *= torch.linspace(0.5, 2.0, changed.shape[-1])
    _, parts3 = model(x, mask, local, changed, keys)
    assert not torch.equal(parts["mfm"], parts3["mfm"])
    assert math.isclose(float(loss.detach()), float(parts["mfm"]), rel_tol=1e-6)  # glcl_weight = 0


def test_slim_loss_skips_a_term_of_weight_zero_and_needs_the_other():
    g = torch.Generator().manual_seed(6)
    target = torch.randn(2, 1, 4, 6, generator=g)
    mask = torch.ones(2, 4, dtype=torch.bool)
    k = [torch.randn(2, 3, generator=g) for _ in range(2)]
    q = [torch.randn(2, 3, generator=g) for _ in range(2)]
    total, parts = SLiMLoss(0.0, 1.0)(None, target, mask, None, q, k)
    assert parts["mfm"] == 0 and torch.equal(total, parts["glcl"])
    total, parts = SLiMLoss(1.0, 0.0)(target * 2, target, mask, None, None, k)
    assert parts["glcl"] == 0 and torch.equal(total, parts["mfm"])
    with pytest.raises(ValueError, match="pred"):
        SLiMLoss(1.0, 1.0)(None, target, mask, None, q, k)


def test_mfm_target_norm_and_loss_kind_come_from_the_config():
    torch.manual_seed(0)
    pred = torch.randn(2, 1, 6, 8)
    target = 3.0 + 2.0 * torch.randn(2, 1, 6, 8)  # far from layer-normalised
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[:, :3] = True
    normed = SLiMLoss(1.0, 0.0)(pred, target, mask, None, None, [])[1]["mfm"]
    raw = SLiMLoss(1.0, 0.0, mfm_normalize_target=False)(pred, target, mask, None, None, [])[1]["mfm"]
    ln = F.layer_norm(target, (8,), eps=1e-6)
    assert not torch.allclose(normed, raw)
    assert torch.allclose(SLiMLoss(1.0, 0.0, mfm_normalize_target=False)(pred, ln, mask, None, None, [])[1]["mfm"],
                          normed, atol=1e-6)  # normalising by hand = the default
    cos = SLiMLoss(1.0, 0.0, mfm_kind="cosine")(pred, target, mask, None, None, [])[1]["mfm"]
    want = (1 - F.cosine_similarity(pred, ln, dim=-1))[:, 0, :3].mean()
    assert torch.allclose(cos, want, atol=1e-6)
    cfg = SLiMConfig.tiny(layout="ntu25", mfm_loss="mse", mfm_target_norm=False)
    crit = SLiMPretrainModel(SLiMEncoder(cfg)).criterion
    assert crit.mfm.kind == "mse" and crit.mfm.normalize_target is False
    assert SLiMConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="mfm_loss"):
        SLiMConfig.tiny(layout="ntu25", mfm_loss="l1")


def test_nn_support_returns_the_nearest_key_of_another_sample():
    from slimkit.losses import NearestNeighbourSupport

    s = NearestNeighbourSupport(size=3, dim=2)
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    # empty bank: each key comes back unchanged, unit-norm; the first view's keys enter the bank
    out = s([torch.cat([a, b]), torch.cat([b, a])], torch.tensor([0, 1]))
    torch.testing.assert_close(out[0], torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    torch.testing.assert_close(out[1], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert s.filled == 2 and s.bank_ids.tolist()[:2] == [0, 1]
    # sample 0 again, close to its own earlier key: its own key is excluded, so sample 1's key is its positive
    q = torch.tensor([[1.0, 0.1]])
    torch.testing.assert_close(s([q], torch.tensor([0]))[0], torch.tensor([[0.0, 1.0]]))
    # without ids nothing is excluded: the nearest key is the one the same sample just added
    torch.testing.assert_close(s([q], None)[0], F.normalize(q, dim=-1))
    # first in, first out: the bank holds the last 3 keys; the oldest (id 0) was overwritten
    assert s.filled == 3 and s.bank_ids.tolist() == [-1, 1, 0]
    # a batch whose only candidates are its own ids keeps its keys
    s2 = NearestNeighbourSupport(size=2, dim=2)
    s2([a], torch.tensor([7]))
    torch.testing.assert_close(s2([b], torch.tensor([7]))[0], torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="ids: expected shape"):
        s2([a], torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="size: expected a positive int"):
        NearestNeighbourSupport(0, 2)


def test_mfm_center_target_removes_what_position_alone_predicts():
    g = torch.Generator().manual_seed(0)
    present = torch.tensor([[True, True], [True, False], [False, True]])
    mask = torch.ones(3, 5, dtype=torch.bool)
    # a target that depends only on the token position: centring leaves nothing to predict
    pos = torch.randn(1, 2, 5, 4, generator=g).expand(3, 2, 5, 4)
    zero = torch.zeros(3, 2, 5, 4)
    assert float(MaskedFeatureLoss("mse", normalize_target=False)(zero, pos, mask, present)) > 0.1
    assert float(MaskedFeatureLoss("mse", normalize_target=False, center_target=True)(zero, pos, mask, present)) == 0
    # reference: subtract the mean over present persons at each (person slot, position), then the usual loss
    pred, target = torch.randn(3, 2, 5, 4, generator=g), torch.randn(3, 2, 5, 4, generator=g) * 2 + pos
    w = present.float()[..., None, None]
    centred = target - (target * w).sum(0, keepdim=True) / w.sum(0, keepdim=True)
    got = MaskedFeatureLoss("smooth_l1", center_target=True)(pred, target, mask, present)
    assert math.isclose(float(got), _ref_mfm(pred, centred, mask, present, "smooth_l1"), rel_tol=1e-5)
    cfg = SLiMConfig.tiny(mfm_target_center=True)
    assert SLiMPretrainModel(SLiMEncoder(cfg)).criterion.mfm.center_target
    with pytest.raises(TypeError, match="mfm_target_center"):
        SLiMConfig.tiny(mfm_target_center="yes")


def test_mfm_target_layers_and_head_blocks():
    """``mfm_target_layers=K``: the teacher's MFM target is the mean of its last K blocks' layer-normalised
    outputs (its keys still come from the output tokens); ``mfm_head_blocks``: Transformer blocks before the
    MFM head, stored with the heads."""
    from slimkit.train import EMATeacher

    torch.manual_seed(0)
    x = torch.randn(3, 1, 32, 20, 3)
    x[1, 0] = float("nan")  # an absent person gets zero tokens in every layer
    x = torch.cat([x, torch.randn(3, 1, 32, 20, 3)], 1)
    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20", max_persons=2)).eval()
    tokens, layers = enc.forward_layers(x, last=2)
    torch.testing.assert_close(tokens, enc(x))
    assert len(layers) == 2 and enc.forward_layers(x)[1] == []
    present = enc.persons_present(x)
    torch.testing.assert_close(enc.norm(layers[-1])[present], tokens[present])
    assert float(layers[0][1, 0].abs().sum()) == 0
    with pytest.raises(ValueError, match="last"):
        enc.forward_layers(x, last=3)

    cfg = SLiMConfig.tiny(layout="kinect20", max_persons=2, mfm_target_layers=2, mfm_head_blocks=1)
    student = SLiMPretrainModel(SLiMEncoder(cfg))
    teacher = EMATeacher(student)
    target, keys = teacher(x, 1)
    _, layers = teacher.encoder.forward_layers(x, last=2)
    torch.testing.assert_close(target, (F.layer_norm(layers[0], (64,)) + F.layer_norm(layers[1], (64,))) / 2)
    torch.testing.assert_close(keys[0], teacher.projector(teacher.encoder.encode(x)))
    assert "mfm_blocks" in student.heads() and len(student.mfm_blocks) == 1
    assert "mfm_blocks" not in SLiMPretrainModel(SLiMEncoder(SLiMConfig.tiny())).heads()
    pred = student.predict_masked(teacher.encoder(x))
    assert pred.shape == target.shape and torch.isfinite(pred).all()
    with pytest.raises(ValueError, match="mfm_target_layers"):
        SLiMConfig.tiny(mfm_target_layers=3)


def test_mfm_head_blocks_round_trip_through_a_checkpoint(tmp_path):
    from slimkit.train import EMATeacher, make_optimizer
    from slimkit.train.checkpoint import load_checkpoint, save_checkpoint

    def build(seed):
        torch.manual_seed(seed)
        m = SLiMPretrainModel(SLiMEncoder(SLiMConfig.tiny(mfm_head_blocks=1)))
        opt = make_optimizer(m, lr=1e-3, weight_decay=0.05)
        return m, EMATeacher(m), opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)

    a, b = build(0), build(1)
    path = save_checkpoint(tmp_path, 1, *a, trainer_state={"global_step": 1})
    load_checkpoint(path, *b)
    for x, y in zip(a[0].mfm_blocks.parameters(), b[0].mfm_blocks.parameters(), strict=True):
        assert torch.equal(x, y)


def _ref_motion_targets(x, t_patch, groups):
    """Loops: per token, the motion values (frame, joint, channel order) standardised over the defined ones."""
    n, m, t, v, c = x.shape
    nxt = list(range(1, t)) + [t - 1]
    prev = list(range(t - 1)) + [t - 2]  # the last frame repeats the last difference
    out, ok = [], []
    for i in range(n):
        for p in range(m):
            for q in range(t // t_patch):
                for g in groups:
                    vals, defined = [], []
                    for f in range(q * t_patch, (q + 1) * t_patch):
                        a, b = (prev[f], nxt[f]) if f == t - 1 else (f, nxt[f])
                        for j in g:
                            d = x[i, p, b, j] - x[i, p, a, j]
                            good = bool(torch.isfinite(x[i, p, a, j]).all() and torch.isfinite(x[i, p, b, j]).all())
                            vals += d.tolist() if good else [0.0] * c
                            defined += [good] * c
                    vals, defined = torch.tensor(vals), torch.tensor(defined)
                    mu, sd = vals[defined].mean(), vals[defined].var(unbiased=False)
                    out.append(torch.where(defined, (vals - mu) / torch.sqrt(sd + 1e-6), torch.zeros(())))
                    ok.append(defined)
    return torch.stack(out), torch.stack(ok)


def test_motion_targets_match_a_loop_reference_in_token_order():
    from slimkit.losses import motion_targets

    torch.manual_seed(0)
    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20", t_patch=4, num_frames=8))
    x = torch.randn(2, 2, 8, 20, 3)
    x[0, 1, 3, 5] = float("nan")  # one missing joint: its motion into and out of frame 3 is undefined
    tgt, valid = motion_targets(x, 4, enc.group_index)
    groups = [[j for j in row.tolist() if j < 20] for row in enc.group_index]
    ref, ref_ok = _ref_motion_targets(x, 4, groups)
    k = enc.group_index.shape[1] * 4 * 3
    got, got_ok = tgt.reshape(-1, k), valid.reshape(-1, k)
    # padding joints of a group sit at the end of each frame's block in `got`: compare defined values only
    for row in range(got.shape[0]):
        assert torch.allclose(got[row][got_ok[row]], ref[row][ref_ok[row]], atol=1e-5)
        assert int(got_ok[row].sum()) == int(ref_ok[row].sum())
    assert not bool(valid.all())  # the padding joints and the missing joint are never targets
    assert torch.isfinite(tgt).all()
    raw, raw_ok = motion_targets(x, 4, enc.group_index, standardize=False)  # the MAE baseline's motion target
    assert torch.equal(raw_ok, valid)
    j = int(enc.group_index[0, 0])  # first joint of the first group, first frame of the first patch
    assert torch.allclose(raw[1, 0, 0, :3], x[1, 0, 1, j] - x[1, 0, 0, j])
    last = (x.shape[2] // 4 - 1) * enc.group_index.shape[0]  # the last frame repeats the last difference
    k = enc.group_index.shape[1] * 3
    assert torch.allclose(raw[1, 0, last, 3 * k: 3 * k + 3], x[1, 0, 7, j] - x[1, 0, 6, j])


def test_masked_motion_loss_counts_masked_defined_values_of_present_persons_only():
    from slimkit.losses import MaskedMotionLoss

    g = torch.Generator().manual_seed(1)
    target = torch.randn(2, 2, 4, 6, generator=g)
    valid = torch.rand(2, 2, 4, 6, generator=g) > 0.3
    mask = torch.tensor([[True, False, True, False], [False, True, True, True]])
    present = torch.tensor([[True, False], [True, True]])
    pred = target.clone()
    loss = MaskedMotionLoss()
    assert float(loss(pred, target, valid, mask, present)) == 0.0
    junk = pred.clone()
    junk[~(valid & mask[:, None, :, None] & present[:, :, None, None])] = float("inf")  # never reaches the sum
    assert float(loss(junk, target, valid, mask, present)) == 0.0
    off = pred + 1.0
    per_sample = []
    for i in range(2):
        w = valid[i] & mask[i][None, :, None] & present[i][:, None, None]
        per_sample.append(float(((off[i] - target[i]) ** 2)[w].mean()))
    assert math.isclose(float(loss(off, target, valid, mask, present)), sum(per_sample) / 2, rel_tol=1e-6)
    with pytest.raises(ValueError, match="pred, target, valid"):
        loss(pred[..., :3], target, valid, mask)


def test_motion_weight_adds_a_trained_head_and_its_term(rng, tmp_path):
    """``motion_weight > 0``: the student's masked tokens predict motion through ``motion_head``; the term is in
    the total, its gradient reaches the head and the mask token, and the head is checkpointed with the others."""
    from slimkit.train import EMATeacher, make_optimizer
    from slimkit.train.checkpoint import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    cfg = SLiMConfig.tiny(layout="kinect20", max_persons=1, motion_weight=0.5, num_local_views=0)
    enc = SLiMEncoder(cfg)
    model = SLiMPretrainModel(enc)
    x = torch.from_numpy(np.stack([random_walk(rng, 32, 20) for _ in range(8)]))[:, None]
    p, groups = enc.token_grid()
    mask = torch.zeros(8, p * groups, dtype=torch.bool)
    mask[:, ::2] = True
    t_tokens = enc(x).detach()
    keys = [k.detach() for k in model.projector(enc.encode(x)).chunk(2)]
    total, parts = model(x, mask, None, t_tokens, keys)
    assert parts["motion"] > 0
    assert math.isclose(float(total), float(parts["mfm"] + parts["glcl"] + 0.5 * parts["motion"]), rel_tol=1e-5)
    total.backward()
    assert model.motion_head.weight.grad.abs().sum() > 0 and enc.mask_token.grad.abs().sum() > 0
    assert "motion_head" in model.heads()
    assert SLiMPretrainModel(SLiMEncoder(cfg.replace(motion_weight=0.0))).motion_head is None

    def build(seed):
        torch.manual_seed(seed)
        m = SLiMPretrainModel(SLiMEncoder(cfg))
        opt = make_optimizer(m, lr=1e-3, weight_decay=0.05)
        return m, EMATeacher(m), opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)

    a, b = build(0), build(1)
    load_checkpoint(save_checkpoint(tmp_path, 1, *a, trainer_state={"global_step": 1}), *b)
    assert torch.equal(a[0].motion_head.weight, b[0].motion_head.weight)
    with pytest.raises(ValueError, match="motion_weight"):
        SLiMConfig.tiny(motion_weight=-1.0)
    old = {k: v for k, v in cfg.to_dict().items() if k != "motion_weight"}
    assert SLiMConfig.from_dict(old).motion_weight == 0.0  # saved before the field: trained without it
