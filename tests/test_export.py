"""Export: .pt2 (torch.export) and .onnx (onnxruntime) match embed() to < 1e-5 in fp32, batch size dynamic."""

import numpy as np
import pytest
import torch
from conftest import random_walk

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.export import load_config, prepare

TOL = 1e-5  # max abs difference to embed(), fp32 (embed on the CPU: on CUDA it autocasts to bf16)


@pytest.fixture(scope="module")
def enc2():
    """Two-person encoder, so the graph must handle an absent person as embed() does."""
    torch.manual_seed(0)
    return SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=32, depth=2, max_persons=2)).eval()


@pytest.fixture(scope="module")
def onnx_path(enc2, tmp_path_factory):
    """One ONNX export for the module (exporting costs seconds)."""
    pytest.importorskip("onnxruntime", reason="ONNX checks need pip install 'slimkit[onnx]'")
    pytest.importorskip("onnxscript", reason="ONNX export needs pip install 'slimkit[onnx]'")
    return enc2.export(tmp_path_factory.mktemp("onnx") / "enc.onnx")


def _batch(rng, n):
    seqs = []
    for i in range(n):
        s = random_walk(rng, int(rng.integers(12, 70)), 20, m=2)
        if i % 2:
            s[1] = 0.0  # second person absent
        s[0, 3:9, 5] = np.nan  # missing joints
        seqs.append(s)
    return seqs


def test_pt2_matches_embed_with_dynamic_batch(enc2, tmp_path, rng):
    path = enc2.export(tmp_path / "enc.pt2")
    program = torch.export.load(path).module()
    for n in (1, 3, 5):
        seqs = _batch(rng, n)
        x = torch.from_numpy(prepare(seqs, enc2.config))
        with torch.no_grad():
            z = program(x).numpy()
        assert z.shape == (n, enc2.embed_dim)
        assert np.abs(z - enc2.embed(seqs, device="cpu")).max() < TOL
    assert load_config(path) == enc2.config


def test_export_keeps_the_encoder_as_it_was(tmp_path):
    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20", dim=32, depth=1)).train()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    enc.export(tmp_path / "e.pt2", normalize=False)
    assert enc.training
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())
    seq = random_walk(np.random.default_rng(1), 40, 20)
    x = torch.from_numpy(prepare([seq], enc.config))
    with torch.no_grad():
        z = torch.export.load(tmp_path / "e.pt2").module()(x).numpy()
    enc.eval()
    np.testing.assert_allclose(z, enc.embed([seq], normalize=False, device="cpu"), atol=TOL)
    assert abs(np.linalg.norm(z) - 1.0) > 1e-3  # not normalised


def test_export_rejects_unknown_suffix(enc2, tmp_path):
    with pytest.raises(ValueError, match=r"\.onnx or \.pt2"):
        enc2.export(tmp_path / "model.bin")


def test_prepare_is_embeds_preprocessing(enc2, rng):
    seqs = _batch(rng, 3)
    x = prepare(seqs, enc2.config)
    assert isinstance(x, np.ndarray) and x.dtype == np.float32
    np.testing.assert_array_equal(x, enc2.preprocess(seqs).numpy())


def test_onnx_matches_embed(enc2, onnx_path, rng):
    import onnxruntime as ort

    from slimkit.export import OnnxEncoder

    path = onnx_path
    assert load_config(path) == enc2.config
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["x"]
    for n in (1, 4):
        seqs = _batch(rng, n)
        z = sess.run(None, {"x": prepare(seqs, enc2.config)})[0]
        assert z.shape == (n, enc2.embed_dim) and np.abs(z - enc2.embed(seqs, device="cpu")).max() < TOL
    seqs = _batch(rng, 3)
    assert np.abs(OnnxEncoder(path).embed(seqs, batch_size=2) - enc2.embed(seqs, device="cpu")).max() < TOL


def test_onnx_real_nwucla_parity(shared_data, enc2, onnx_path):
    from slimkit.data import load
    from slimkit.export import OnnxEncoder

    files = sorted((shared_data / "nw-ucla" / "all_sqe").glob("a0*_s01_e00_v01.json"))
    clips = [load(f)[0][0] for f in files]  # real one-person Kinect clips; the second person is absent
    diff = np.abs(OnnxEncoder(onnx_path).embed(clips) - enc2.embed(clips, device="cpu")).max()
    assert len(clips) >= 5 and diff < TOL
