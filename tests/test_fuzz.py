"""Fuzzing embed(): every call returns finite output of the right shape, or raises ValueError/TypeError that
names the offending argument. 2,000 examples by default, 20,000 with ``pytest --fuzz-long``."""

import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.layouts import get_layout

ARG_NAMES = re.compile(r"skeletons|input_format|x:|batch_size")
DTYPES = ["float32", "float64", "float16", "int32", "uint8", "bool", "complex64"]


@pytest.fixture(scope="module")
def enc():
    torch.manual_seed(0)
    return SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=32, heads=2, depth=1)).eval()


@st.composite
def inputs(draw):
    kind = draw(st.sampled_from(["array", "tensor", "list"]))
    t = draw(st.one_of(st.integers(0, 40), st.integers(41, 10_000)))
    v = draw(st.sampled_from([20, 20, 20, 25, 1, 0]))
    c = draw(st.sampled_from([3, 3, 3, 2, 4, 1]))
    m = draw(st.integers(0, 3))
    n = draw(st.integers(0, 3))
    ndim = draw(st.sampled_from([3, 4, 5, 5, 2, 6]))
    dtype = draw(st.sampled_from(DTYPES))
    pattern = draw(st.sampled_from(["clean", "nan", "inf", "all_nan", "zero_frames", "zero_person", "huge", "tiny"]))
    frac = draw(st.floats(0.0, 1.0))
    seed = draw(st.integers(0, 2**16))
    if draw(st.booleans()):  # half the examples are well-formed, with realistic damage
        v, c, m, n = 20, 3, max(m, 1), max(n, 1)
        t, ndim = max(t, 1), draw(st.sampled_from([3, 4, 5]))
        dtype = draw(st.sampled_from(["float32", "float64", "float16", "int32"]))
        pattern = draw(st.sampled_from(["clean", "nan", "inf", "zero_frames", "zero_person", "tiny"]))
        frac = min(frac, 0.9)
    shape = {2: (t, v), 3: (t, v, c), 4: (m, t, v, c), 5: (n, m, t, v, c), 6: (1, n, m, t, v, c)}[ndim]
    size = int(np.prod(shape)) if shape else 0
    if kind == "list":
        shape = (t, v, c)
        size = t * v * c * max(n, 1)
    if size > 120_000:  # long sequences stay in, but with few persons and joints the fuzzer stays fast
        t_axis = len(shape) - 3 if len(shape) >= 3 else 0
        shape = tuple(max(1, s * 120_000 // size) if i == t_axis else s for i, s in enumerate(shape))
    return kind, shape, n, dtype, pattern, frac, seed


def build(kind, shape, n, dtype, pattern, frac, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape) + 0.5
    if a.size:
        flat = a.reshape(-1, *a.shape[-1:]) if a.ndim else a
        k = int(frac * flat.shape[0])
        if pattern == "nan":
            flat[rng.choice(flat.shape[0], k, replace=False)] = np.nan
        elif pattern == "inf":
            flat[rng.choice(flat.shape[0], k, replace=False), 0] = np.inf
        elif pattern == "all_nan":
            a[...] = np.nan
        elif pattern == "zero_frames" and a.ndim >= 3:
            a[..., : max(1, a.shape[-3] // 2), :, :] = 0
        elif pattern == "zero_person" and a.ndim >= 4:
            a[..., 0, :, :, :] = 0
        elif pattern == "huge":
            a *= 1e12
        elif pattern == "tiny":
            a *= 1e-12
    with np.errstate(invalid="ignore", over="ignore"):
        a = a.astype(dtype) if dtype != "bool" else a > 0.5
    if kind == "tensor":
        if a.dtype == np.uint8 or a.dtype == np.bool_ or a.dtype.kind == "c":
            return torch.from_numpy(np.ascontiguousarray(a))
        return torch.from_numpy(np.ascontiguousarray(a))
    if kind == "list":
        return [a.copy() for _ in range(n)]
    return a


def expected_n(x):
    if isinstance(x, list):
        return len(x)
    return x.shape[0] if x.ndim == 5 else 1


def check(enc, x):
    try:
        z = enc.embed(x, batch_size=2)
    except (ValueError, TypeError) as e:
        assert ARG_NAMES.search(str(e)), f"error does not name the argument: {e!r}"
        return False
    assert z.shape == (expected_n(x), enc.embed_dim)
    assert np.isfinite(z).all(), "non-finite embedding"
    return True


def test_fuzz_embed(enc, request):
    n_examples = 20_000 if request.config.getoption("--fuzz-long") else 2_000
    accepted = []

    @settings(max_examples=n_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(inputs())
    def run(params):
        accepted.append(check(enc, build(*params)))

    run()
    # the fuzzer must exercise both paths, or it proves nothing
    assert sum(accepted) > 0.3 * len(accepted) and not all(accepted)


def test_known_edge_cases(enc):
    ok = np.ones((1, 20, 3), np.float32) * np.arange(20)[:, None]
    assert check(enc, ok)  # one frame
    long = np.random.default_rng(0).normal(size=(10_000, 20, 3)).astype(np.float32)
    assert check(enc, long)  # 10k frames
    for bad in (np.zeros((5, 20, 3)), np.full((5, 20, 3), np.inf), np.ones((5, 20, 3), bool), [], np.ones((0, 20, 3))):
        assert not check(enc, bad)


@st.composite
def transform_inputs(draw):
    layout = draw(st.sampled_from(["kinect20", "coco17", "penn13"]))
    v = {"kinect20": 20, "coco17": 17, "penn13": 13}[layout]
    if draw(st.booleans()):  # well-formed batch with realistic damage
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 80)), v,
                 draw(st.sampled_from([2, 3])))
        dtype = draw(st.sampled_from(["float32", "float64"]))
    else:  # anything
        ndim = draw(st.integers(1, 6))
        shape = tuple(draw(st.lists(st.integers(0, 24), min_size=ndim, max_size=ndim)))
        if int(np.prod(shape)) > 20_000:  # keep examples fast: shrink the leading axes
            shape = (1,) * max(0, ndim - 3) + shape[-3:] if ndim >= 3 else shape
        dtype = draw(st.sampled_from(["float32", "float64", "int32", "bool"]))
    pattern = draw(st.sampled_from(["clean", "nan", "all_nan", "zeros"]))
    return layout, shape, dtype, pattern, draw(st.floats(0, 1)), draw(st.integers(0, 2**16)), draw(st.booleans())


def test_fuzz_transforms(request):
    """Augmentations and temporal crops: same shape (crop: num_frames), missing stays missing, valid stays
    finite, or a ValueError/TypeError naming the argument."""
    from slimkit.transforms import TemporalCrop, default_augmentation

    n_examples = 5_000 if request.config.getoption("--fuzz-long") else 500
    outcomes = []

    @settings(max_examples=n_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(transform_inputs())
    def run(params):
        layout, shape, dtype, pattern, frac, seed, as_torch = params
        rng = np.random.default_rng(seed)
        a = rng.normal(size=shape)
        if a.size and a.ndim:
            if pattern == "nan":
                a[rng.random(a.shape[:-1]) < frac] = np.nan
            elif pattern == "all_nan":
                a[...] = np.nan
            elif pattern == "zeros":
                a[...] = 0
        with np.errstate(invalid="ignore"):
            a = a.astype(dtype) if dtype != "bool" else a > 0
        x = torch.from_numpy(a) if as_torch else a
        gen = torch.Generator().manual_seed(seed)
        try:
            y = default_augmentation(layout)(x, generator=gen)
            z = TemporalCrop(16, 0.5, 1.0)(y, generator=gen)
        except (ValueError, TypeError) as e:
            assert re.search(r"\bx\b|x:|x\[|layout|shape|dtype|expected", str(e)), repr(e)
            outcomes.append(False)
            return
        ya, za = np.asarray(y), np.asarray(z)
        assert ya.shape == a.shape and za.shape == a.shape[:-3] + (16,) + a.shape[-2:]
        miss_in = ~np.isfinite(np.asarray(a, dtype=np.float64)).all(-1)
        miss_out = ~np.isfinite(ya).all(-1)
        flip = get_layout(layout).flip_index  # a mirrored sample has its missing joints swapped left/right
        for i in range(a.shape[0]):
            assert np.array_equal(miss_in[i], miss_out[i]) or np.array_equal(miss_in[i][..., flip], miss_out[i]), (
                "augmentation changed which joints are missing")
        if np.isfinite(np.asarray(a, dtype=np.float64)).all():
            assert np.isfinite(za).all()
        outcomes.append(True)

    run()
    assert sum(outcomes) > 0.3 * len(outcomes) and not all(outcomes)
