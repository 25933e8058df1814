"""Numerical guarantees of embed(): precision agreement, long sequences, concurrent use."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from conftest import random_walk

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.preprocessing import resample

BF16_MIN_COSINE = 0.99  # stated in docs/guarantees.md


@pytest.fixture(scope="module")
def enc():
    torch.manual_seed(0)
    return SLiMEncoder(SLiMConfig.small(layout="kinect20")).eval()


@pytest.fixture
def seqs(rng):
    return [random_walk(rng, int(t), 20) for t in rng.integers(10, 120, size=16)]


def test_bf16_and_fp32_embeddings_agree(enc, seqs):
    fp32 = enc.embed(seqs, precision="fp32")
    bf16 = enc.embed(seqs, precision="bf16")  # CPU autocast here; CUDA autocast with device="cuda"
    cos = (fp32 * bf16).sum(1)
    assert cos.min() > BF16_MIN_COSINE, cos.min()
    assert np.abs(fp32 - bf16).max() > 0  # bf16 really ran
    # nearest neighbours are what users consume: they should mostly survive the precision change
    nn32 = np.argsort(-(fp32 @ fp32.T), 1)[:, 1]
    nn16 = np.argsort(-(bf16 @ bf16.T), 1)[:, 1]
    assert (nn32 == nn16).mean() >= 0.75


def test_long_sequences_are_resampled_not_truncated(enc, rng):
    t = 10_000
    head = random_walk(rng, t // 2, 20)
    a = np.concatenate([head, random_walk(rng, t // 2, 20)])
    b = np.concatenate([head, random_walk(rng, t // 2, 20)])
    za, zb = enc.embed(a), enc.embed(b)
    assert np.abs(za - zb).max() > 1e-3  # the second half matters: nothing was cut off
    # and the result is exactly the embedding of the whole sequence resampled to num_frames
    short = resample(a[None], enc.config.num_frames)
    np.testing.assert_allclose(enc.embed(short), za, atol=1e-5)


def test_concurrent_embed_matches_sequential(enc, seqs):
    ref = [enc.embed(seqs[i::4]) for i in range(4)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: enc.embed(seqs[i % 4::4]), range(16)))
    for i, z in enumerate(got):
        np.testing.assert_allclose(z, ref[i % 4], atol=1e-6)
    assert not enc.training


def test_precision_argument_checked(enc, seqs):
    with pytest.raises(ValueError, match="precision: expected"):
        enc.embed(seqs, precision="fp16")
