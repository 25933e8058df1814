import numpy as np
import pytest
import torch
from conftest import random_walk

from slimkit import SLiMConfig, SLiMEncoder


@pytest.fixture(scope="module")
def enc():
    torch.manual_seed(0)
    return SLiMEncoder(SLiMConfig.tiny(layout="kinect20")).eval()


@pytest.fixture
def seqs(rng):
    return [random_walk(rng, int(t), 20) for t in rng.integers(4, 60, size=6)]


def test_presets_and_embed_dim():
    assert (SLiMConfig.base().dim, SLiMConfig.base().depth, SLiMConfig.base().heads, SLiMConfig.base().mlp_ratio) == (
        256, 8, 8, 4.0)
    e = SLiMEncoder(SLiMConfig.tiny(layout="ntu25", dim=32, heads=4))
    assert e.embed_dim == 32 * 9  # time_max pooling: 8 bins and the token max, width 32 each
    assert SLiMEncoder(SLiMConfig.tiny(layout="ntu25", dim=32, heads=4, pooling="mean")).embed_dim == 32
    assert e.num_tokens() == 32 // 4 * 5  # 8 patches x 5 body parts
    j = SLiMEncoder(SLiMConfig.tiny(layout="ntu25", token_groups="joint"))
    assert j.num_tokens() == 8 * 25


def test_forward_shapes_and_absent_person_zero(enc, seqs):
    x = enc.preprocess(seqs)
    assert x.shape == (6, 2, 32, 20, 3) and x.dtype == torch.float32
    tok = enc(x)
    assert tok.shape == (6, 2, enc.num_tokens(), 64)
    assert torch.all(tok[:, 1] == 0)  # second person absent everywhere
    assert torch.isfinite(tok).all()
    short = enc(x[:, :, :16])  # a local view: half the patches, interpolated time positions
    assert short.shape == (6, 2, enc.num_tokens(16), 64)


def test_embed_shape_dtype_norm_and_determinism(enc, seqs):
    z = enc.embed(seqs)
    assert z.shape == (6, 576) and z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(z, enc.embed(seqs))
    t = enc.embed(seqs, convert_to_numpy=False, normalize=False)
    assert isinstance(t, torch.Tensor) and t.shape == (6, 576)
    np.testing.assert_allclose(z, torch.nn.functional.normalize(t, dim=-1).numpy(), rtol=1e-5, atol=1e-6)


def test_batch_size_does_not_change_embeddings(enc, seqs):
    np.testing.assert_allclose(enc.embed(seqs, batch_size=1), enc.embed(seqs, batch_size=64), atol=1e-5)


def test_absent_second_person_and_zero_padded_frames_do_not_change_embedding(enc, rng):
    seq = random_walk(rng, 25, 20)
    padded = np.zeros((2, 40, 20, 3), np.float32)
    padded[0, 5:30] = seq
    np.testing.assert_allclose(enc.embed(padded), enc.embed(seq), atol=1e-6)


def test_two_persons_average_of_present_persons(enc, rng):
    a, b = random_walk(rng, 20, 20), random_walk(rng, 20, 20)
    both = enc.embed(np.stack([a, b]), normalize=False)
    # centring uses person 0's centre, so compare against each person centred the same way
    x = enc.preprocess(np.stack([a, b]))
    with torch.no_grad():
        tok = enc(x)[0].numpy()  # (M, P * G, D), time-major
    # reference: mean over the parts of each patch, in time order (8 patches = 8 bins for tiny); then 4 bins
    m, length, d = tok.shape
    per = tok.reshape(m, 8, length // 8, d).mean(2).reshape(m, 8 * d)
    per = np.concatenate([per, tok.max(1)], 1)  # then the max of every feature over all tokens
    np.testing.assert_allclose(both[0], per.mean(0), atol=1e-5)


def test_nan_joint_never_gives_nan_and_differs_from_joint_at_origin(enc, rng):
    seq = random_walk(rng, 20, 20)
    nan = seq.copy()
    nan[:, 7] = np.nan
    z_nan = enc.embed(nan)
    assert np.isfinite(z_nan).all()
    # the same joint placed exactly at the centre of the body (the origin after centring) is a real joint
    at_origin = seq.copy()
    at_origin[:, 7] = seq[0, 1]
    assert np.abs(enc.embed(at_origin) - z_nan).max() > 1e-3
    # a joint missing everywhere but one frame still gives finite output
    sparse = np.full_like(seq, np.nan)
    sparse[3, 2] = [0.1, 0.2, 0.3]
    assert np.isfinite(enc.embed(sparse)).all()


def test_variable_length_list_equals_stacked_equal_length(enc, rng):
    same = [random_walk(rng, 30, 20) for _ in range(4)]
    np.testing.assert_allclose(enc.embed(same), enc.embed(np.stack(same)[:, None]), atol=1e-6)
    mixed = [random_walk(rng, t, 20) for t in (3, 30, 200)]
    one_by_one = np.concatenate([enc.embed(s) for s in mixed])
    np.testing.assert_allclose(enc.embed(mixed), one_by_one, atol=1e-5)


def test_single_frame_sequence(enc, rng):
    z = enc.embed(random_walk(rng, 1, 20))
    assert z.shape == (1, 576) and np.isfinite(z).all()


def test_mask_token_path(enc, seqs):
    x = enc.preprocess(seqs)
    n, length = x.shape[0], enc.num_tokens()
    none = torch.zeros(n, length, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(enc(x, none), enc(x))
        m = none.clone()
        m[:, : enc.num_groups] = True  # every token of the first temporal patch
        y = x.clone()
        y[:, :, :4] += torch.randn_like(y[:, :, :4])  # change the data under the masked tokens only
        torch.testing.assert_close(enc(y, m), enc(x, m))  # masked data is invisible to the encoder
        assert not torch.allclose(enc(y), enc(x))
    with pytest.raises(TypeError, match="mask: expected a bool tensor"):
        enc(x, none.float())
    with pytest.raises(ValueError, match=r"mask: expected shape \(6, 40\)"):
        enc(x, none[:, :-1])


def test_wrong_layout_is_a_clear_error(enc, rng):
    ntu = random_walk(rng, 10, 25)
    with pytest.raises(ValueError, match=r"expected \(M, T, 20, 3\) for layout 'kinect20'.*got shape \(1, 10, 25, 3\)"):
        enc.embed(ntu)
    with pytest.raises(ValueError, match=r"x: expected shape \(N, M, T, 20, 3\)"):
        enc(torch.zeros(1, 1, 32, 25, 3))
    with pytest.raises(ValueError, match="multiple of t_patch"):
        enc(torch.zeros(1, 1, 30, 20, 3))


def test_embed_argument_errors(enc, seqs):
    with pytest.raises(ValueError, match="batch_size"):
        enc.embed(seqs, batch_size=0)
    with pytest.raises(ValueError, match="output_value"):
        enc.embed(seqs, output_value="cls")
    tokens = enc.embed(seqs[:2], output_value="tokens")
    assert tokens.shape == (2, 2, enc.num_tokens(), 64)


def test_ctrgcn_input_format(enc, rng):
    x = np.stack([random_walk(rng, 16, 20, m=2) for _ in range(3)])  # N M T V C
    np.testing.assert_allclose(enc.embed(np.transpose(x, (0, 4, 2, 3, 1)), input_format="NCTVM"), enc.embed(x),
                               atol=1e-6)


def test_memmap_input(enc, rng, tmp_path):
    arr = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=(50, 1, 12, 20, 3))
    arr[:] = np.stack([random_walk(rng, 12, 20) for _ in range(50)])[:, None]
    arr.flush()
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    np.testing.assert_allclose(enc.embed(mm, batch_size=16), enc.embed(np.asarray(mm)), atol=1e-6)


def test_gradients_flow_and_train_mode_restored(rng):
    e = SLiMEncoder(SLiMConfig.tiny(layout="kinect20", drop_path=0.1)).train()
    x = e.preprocess([random_walk(rng, 20, 20) for _ in range(3)])
    e.encode(x).pow(2).sum().backward()
    grads = [p.grad for n, p in e.named_parameters() if n != "mask_token"]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    e.embed(x[:, 0].numpy(), input_format="NTVC")
    assert e.training
