"""The MAE-style baseline of benchmarks/baselines: shapes, masking, what the loss scores, that it learns."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package

from benchmarks.baselines.mae import MAEPretrainer, mae_base, mae_tiny, masked_mse  # noqa: E402


def _walks(rng: np.random.Generator, n: int, t: int, m: int = 2) -> np.ndarray:
    """``(n, m, t, 25, 3)`` smooth random skeleton sequences without zeros."""
    base = rng.normal(size=(n, m, 1, 25, 3))
    steps = rng.normal(scale=0.05, size=(n, m, t, 25, 3)).cumsum(axis=2)
    return (base + steps + 0.01).astype(np.float32)


@pytest.fixture
def tiny() -> MAEPretrainer:
    torch.manual_seed(0)
    return MAEPretrainer(mae_tiny())


def test_mamp_geometry() -> None:
    model = MAEPretrainer(mae_base())
    assert model.num_tokens == 750  # 120 frames / 4 x 25 joints
    assert model.num_visible == 75  # exactly 10 %, not int(750 * 0.1) = 74
    c = model.encoder.config
    assert (c.dim, c.depth, c.heads, c.mlp_ratio, c.token_groups) == (256, 8, 8, 4.0, "joint")
    assert len(model.decoder_blocks) == 3 and model.decoder_embed.out_features == 256


def test_shapes_and_absent_person(tiny: MAEPretrainer, rng: np.random.Generator) -> None:
    x = tiny.preprocess(_walks(rng, 3, 40))
    x[2, 1] = float("nan")  # a one-person sample: its absent person is not encoded or scored
    out = tiny(x)
    b, n_tok = 5, tiny.num_tokens
    assert out.pred.shape == out.target.shape == (b, n_tok, 4 * 3)
    assert out.mask.shape == (b, n_tok) and out.visible_index.shape == (b, tiny.num_visible)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert tiny.encoder.encode(x).shape == (3, tiny.encoder.embed_dim)
    assert tiny.encoder.embed(_walks(rng, 2, 50)).shape == (2, tiny.encoder.embed_dim)


def test_encoder_sees_exactly_ten_percent(tiny: MAEPretrainer, rng: np.random.Generator) -> None:
    seen: list[tuple[int, ...]] = []
    blk = tiny.encoder.blocks[0]
    hook = blk.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    try:
        tiny.loss(tiny.preprocess(_walks(rng, 2, 32)))
        assert seen == [(4, 20, 64)]  # 4 persons x 20 of 200 tokens
        seen.clear()
        tiny.encoder.encode(tiny.preprocess(_walks(rng, 2, 32)))
        assert seen == [(4, 200, 64)]  # inference: the full sequence
    finally:
        hook.remove()


@pytest.mark.parametrize("masking", ["motion", "random"])
def test_visible_tokens_are_the_unmasked_ones(masking: str, rng: np.random.Generator) -> None:
    model = MAEPretrainer(mae_tiny(masking=masking))
    out = model(model.preprocess(_walks(rng, 2, 32)))
    assert (out.mask.sum(1) == model.num_tokens - model.num_visible).all()
    assert not out.mask.gather(1, out.visible_index).any()


def test_only_masked_tokens_enter_the_loss(tiny: MAEPretrainer, rng: np.random.Generator) -> None:
    x = tiny.preprocess(_walks(rng, 2, 32))
    mask = tiny.sample_mask(x.flatten(0, 1), torch.Generator().manual_seed(1))
    ref = tiny(x, mask=mask)

    def scramble_visible(_m, _args, out):  # wreck the prediction wherever a token was visible
        return torch.where(mask[..., None], out, torch.full_like(out, 1e3))

    hook = tiny.decoder_pred.register_forward_hook(scramble_visible)
    try:
        assert torch.allclose(tiny(x, mask=mask).loss, ref.loss)
    finally:
        hook.remove()
    pred = ref.pred.detach().clone().requires_grad_(True)
    masked_mse(pred, ref.target, ref.target_valid, mask).backward()
    assert pred.grad[~mask].abs().max() == 0 and pred.grad[mask].abs().max() > 0


def test_missing_joints_are_not_scored(tiny: MAEPretrainer, rng: np.random.Generator) -> None:
    seq = _walks(rng, 1, 32, m=1)
    seq[0, 0, :, 5] = np.nan  # one joint missing throughout
    out = tiny(tiny.preprocess(seq))
    assert not out.target_valid[:, 5::25].any()  # token = patch * 25 + joint
    assert torch.isfinite(out.loss)


@pytest.fixture
def one_thread():
    """20 small training steps run several times faster on one thread when the CPU is shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("overrides", [{}, {"target": "coords", "norm_target": False}])
def test_loss_falls(overrides: dict, rng: np.random.Generator, one_thread: None) -> None:
    torch.manual_seed(0)
    model = MAEPretrainer(mae_tiny(**overrides))
    x = model.preprocess(_walks(rng, 4, 32))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(20):
        loss = model.loss(x, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # Step 0 is dominated by the random decoder head; judge the fall after it. A normalised motion target of
    # random walks is white noise (the best prediction is 0, loss ~1), whereas raw coordinates are learnable.
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[1:4]), losses
