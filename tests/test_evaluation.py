"""Evaluation protocols: kNN retrieval, MAMP linear probe, fine-tuning and semi-supervised subsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("faiss")

from slimkit import SLiMConfig, SLiMEncoder  # noqa: E402
from slimkit.eval import (  # noqa: E402
    EvalResult,
    finetune,
    knn_accuracy,
    linear_probe,
    semi_supervised,
    stratified_subset,
)
from slimkit.eval.inputs import _Skeletons  # noqa: E402


def clusters(
    rng: np.random.Generator,
    n: int,
    classes: int = 10,
    dim: int = 32,
    spread: float = 0.3,
    centers: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if centers is None:
        centers = rng.standard_normal((classes, dim))
    y = rng.integers(0, classes, n)
    x = centers[y] + spread * rng.standard_normal((n, dim))
    return x.astype(np.float32), y, centers


@pytest.fixture(scope="module")
def separated():
    rng = np.random.default_rng(0)
    x, y, c = clusters(rng, 1000)
    xt, yt, _ = clusters(rng, 400, centers=c)
    return x, y, xt, yt


# ---- kNN ---------------------------------------------------------------------------------------------------
def test_knn_perfect_on_separated_clusters_and_chance_on_shuffled_labels(separated):
    x, y, xt, yt = separated
    for k in (1, 5):
        res = knn_accuracy(x, y, xt, yt, k=k)
        assert isinstance(res, EvalResult) and res.accuracy == 1.0
    shuffled = knn_accuracy(x, np.random.default_rng(1).permutation(y), xt, yt)
    assert shuffled.accuracy < 0.2  # chance is 0.1 with 10 classes


def test_knn_k1_equals_numpy_cosine_nearest_neighbour():
    rng = np.random.default_rng(3)
    x, y, c = clusters(rng, 500, classes=5, spread=1.5)  # overlapping: accuracy strictly between 0 and 1
    xt, yt, _ = clusters(rng, 200, classes=5, spread=1.5, centers=c)
    un = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    want = float(np.mean(y[np.argmax(un(xt) @ un(x).T, axis=1)] == yt))
    res = knn_accuracy(x, y, xt, yt, k=1)
    assert 0.3 < want < 1.0
    assert res.accuracy == pytest.approx(want, abs=1e-12)


def test_knn_vote_ties_go_to_the_lowest_label():
    train = np.array([[1.0, 0.1], [1.0, 0.3]], dtype=np.float32)  # nearest has label "b", second "a"
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    assert knn_accuracy(train, ["b", "a"], query, ["b"], k=1).accuracy == 1.0
    assert knn_accuracy(train, ["b", "a"], query, ["a"], k=2).accuracy == 1.0  # 1-1 tie -> "a" < "b"
    assert knn_accuracy(train, [7, 2], query, [2], k=2).accuracy == 1.0
    # a majority beats the nearest neighbour
    train3 = np.array([[1.0, 0.05], [1.0, 0.3], [1.0, 0.35]], dtype=np.float32)
    assert knn_accuracy(train3, [0, 1, 1], query, [1], k=3).accuracy == 1.0


def test_knn_protocol_and_result_printing(separated):
    x, y, xt, yt = separated
    res = knn_accuracy(x, y, xt, yt, k=1)
    assert "kNN (STARS)" in res.protocol and "k=1" in res.protocol and "cosine" in res.protocol
    assert "gallery = train (1000)" in res.protocol and "queries = test (400)" in res.protocol
    assert str(res).startswith("top-1 100.00 %") and res.protocol in str(res)
    assert float(res) == 1.0 and res.to_dict()["num_classes"] == 10


def test_unseen_test_classes_count_as_errors(separated):
    x, y, xt, yt = separated
    yt2 = yt.copy()
    yt2[:100] = 99  # a class the gallery has never seen
    assert knn_accuracy(x, y, xt, yt2).accuracy == pytest.approx(0.75)


# ---- linear probe ------------------------------------------------------------------------------------------
def test_linear_probe_mamp_recipe_beats_chance(separated):
    x, y, xt, yt = separated
    res = linear_probe(x, y, xt, yt)  # MAMP defaults: 100 epochs, batch 256, SGD lr 0.1
    assert res.accuracy > 0.95  # chance 0.1
    assert res.metrics["top5"] >= res.accuracy and res.metrics["epochs"] == 100
    bn, fc = res.model
    assert isinstance(bn, nn.BatchNorm1d) and not bn.affine and bn.eps == 1e-6
    assert isinstance(fc, nn.Linear) and fc.weight.shape == (10, 32)
    for part in (
        "linear probe (MAMP)",
        "BatchNorm1d(32, affine=False, eps=1e-6)",
        "SGD lr 0.1 momentum 0.9 wd 0",
        "batch 256",
        "100 epochs",
        "cosine",
        "train 1000 / test 400",
        "seed 0",
    ):
        assert part in res.protocol


def test_linear_probe_shuffled_labels_near_chance(separated):
    x, y, xt, yt = separated
    res = linear_probe(x, np.random.default_rng(5).permutation(y), xt, yt, epochs=20)
    assert res.accuracy < 0.25


def test_linear_probe_is_seeded(separated):
    x, y, xt, yt = separated
    a = linear_probe(x[:300], y[:300], xt, yt, epochs=3, seed=1)
    b = linear_probe(x[:300], y[:300], xt, yt, epochs=3, seed=1)
    c = linear_probe(x[:300], y[:300], xt, yt, epochs=3, seed=2)
    assert torch.equal(a.model[1].weight, b.model[1].weight)
    assert not torch.equal(a.model[1].weight, c.model[1].weight)


def test_string_labels_and_classes_order(separated):
    x, y, xt, yt = separated
    names = np.array([f"action_{i:02d}" for i in range(10)])
    res = linear_probe(x, names[y], xt, names[yt], epochs=10)
    assert res.accuracy > 0.9 and res.classes.tolist() == sorted(names.tolist())


# ---- semi-supervised ---------------------------------------------------------------------------------------
def test_stratified_subset_keeps_every_class_and_is_seeded():
    labels = np.array([0] * 500 + [1] * 300 + [2] * 3 + [3] * 1)
    one = stratified_subset(labels, 0.01, seed=0)
    assert np.bincount(labels[one]).tolist() == [5, 3, 1, 1]  # >= 1 per class
    ten = stratified_subset(labels, 0.1, seed=0)
    assert np.bincount(labels[ten]).tolist() == [50, 30, 1, 1]
    assert np.array_equal(one, stratified_subset(labels, 0.01, seed=0))
    assert not np.array_equal(ten, stratified_subset(labels, 0.1, seed=1))
    assert len(set(ten.tolist())) == ten.size
    with pytest.raises(ValueError, match="fraction"):
        stratified_subset(labels, 1.5)


def test_semi_supervised_on_embeddings(separated):
    x, y, xt, yt = separated
    res = semi_supervised(x, y, xt, yt, fraction=0.1, epochs=30)
    assert res.metrics["num_labelled"] == len(stratified_subset(y, 0.1)) and res.metrics["fraction"] == 0.1
    assert res.metrics["num_train"] == res.metrics["num_labelled"]
    assert res.protocol.startswith("semi-supervised 10 % of train labels") and "linear probe" in res.protocol
    assert res.accuracy > 0.9


# ---- encoder + raw skeletons -------------------------------------------------------------------------------
V, CLASSES = 20, 4


@pytest.fixture(scope="module")
def skeletons():
    """Four actions on kinect20: distinct body shapes moving at distinct frequencies, variable lengths."""
    rng = np.random.default_rng(11)
    base = rng.standard_normal((CLASSES, V, 3))
    freq = np.linspace(0.5, 3.0, CLASSES)

    def make(n):
        y = np.arange(n) % CLASSES
        seqs = []
        for c in y:
            t = np.arange(rng.integers(30, 50))[:, None, None]
            wave = 0.5 * np.sin(freq[c] * t / 5 + rng.uniform(0, 6)) * np.ones((1, V, 3))
            seqs.append((base[c] + wave + 0.05 * rng.standard_normal((t.shape[0], V, 3))).astype(np.float32))
        return seqs, y

    train, test = make(40), make(20)
    return train[0], train[1], test[0], test[1]


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return SLiMEncoder(SLiMConfig.tiny(layout="kinect20"))


def test_knn_with_encoder_on_raw_skeletons(skeletons, encoder):
    x, y, xt, yt = skeletons
    res = knn_accuracy(x, y, xt, yt, encoder=encoder)
    assert res.accuracy == 1.0
    assert "centre view (crop p=0.95" in res.protocol
    shuffled = knn_accuracy(x, np.random.default_rng(0).permutation(y), xt, yt, encoder=encoder)
    assert shuffled.accuracy < 0.6


def test_linear_probe_with_encoder_uses_augmented_views(skeletons, encoder):
    x, y, xt, yt = skeletons
    encoder.train()
    res = linear_probe(x, y, xt, yt, encoder=encoder, epochs=4, batch_size=16)
    assert res.accuracy >= 0.75  # chance 0.25
    assert "rotation U[-0.3, 0.3]" in res.protocol and "crop p~U[0.5, 1.0]" in res.protocol
    assert encoder.training  # the caller's mode is restored


def test_train_views_are_random_and_test_views_fixed(skeletons, encoder):
    x, _, _, _ = skeletons
    sk = _Skeletons(x, encoder, "auto", "x")
    idx = np.arange(8)
    g = torch.Generator().manual_seed(0)
    a, b = sk.train_views(idx, g, True), sk.train_views(idx, g, True)
    assert a.shape == (8, encoder.config.max_persons, encoder.config.num_frames, V, 3)
    assert not torch.allclose(a[:, 0], b[:, 0])
    c1, c2 = sk.center_views(idx), sk.center_views(idx)
    assert torch.equal(torch.nan_to_num(c1), torch.nan_to_num(c2))
    assert torch.isnan(c1[:, 1]).all()  # single-person data: the second person slot is absent (NaN)


def test_finetune_trains_a_copy(skeletons, encoder):
    x, y, xt, yt = skeletons
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    res = finetune(x, y, xt, yt, encoder=encoder, epochs=3, batch_size=8, warmup_epochs=1)
    assert res.accuracy >= 0.5  # chance 0.25
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, before[k]), f"caller's encoder changed at {k}"
    tuned = res.model.encoder.state_dict()
    assert any(not torch.equal(tuned[k], before[k]) for k in before)
    assert "layer decay 0.8" in res.protocol and "label smoothing 0.1" in res.protocol
    prepared = encoder.preprocess(xt[:2])
    assert res.model(prepared).shape == (2, CLASSES)


def test_semi_supervised_with_encoder_fine_tunes_on_the_subset(skeletons, encoder):
    x, y, xt, yt = skeletons
    res = semi_supervised(
        x, y, xt, yt, fraction=0.1, encoder=encoder, epochs=1, batch_size=4, warmup_epochs=0
    )
    assert res.metrics["num_labelled"] == 4 and "fine-tuning" in res.protocol


def test_skeleton_dataset_labels_are_read_when_labels_are_none(skeletons, encoder):
    from slimkit.data import SkeletonDataset

    x, y, xt, yt = skeletons
    train = SkeletonDataset([s[None] for s in x], labels=y.tolist(), layout="kinect20")
    test = SkeletonDataset([s[None] for s in xt], labels=yt.tolist(), layout="kinect20")
    assert knn_accuracy(train, None, test, None, encoder=encoder).accuracy == 1.0
    res = semi_supervised(train, None, test, None, fraction=0.1, encoder=encoder, epochs=1, batch_size=4)
    assert res.metrics["num_labelled"] == 4 and res.metrics["num_test"] == len(xt)


# ---- errors ------------------------------------------------------------------------------------------------
def test_errors_name_the_argument(separated, skeletons):
    x, y, xt, yt = separated
    with pytest.raises(ValueError, match="train_labels: expected 1000 labels"):
        knn_accuracy(x, y[:10], xt, yt)
    with pytest.raises(ValueError, match="test_emb: expected width 32"):
        linear_probe(x, y, xt[:, :8], yt)
    with pytest.raises(ValueError, match="encoder: finetune trains the encoder"):
        finetune(x, y, xt, yt)
    with pytest.raises(ValueError, match="train_emb: expected embeddings of shape .*pass encoder="):
        knn_accuracy(np.zeros((4, 10, 20, 3), np.float32), [0] * 4, xt, yt)
    with pytest.raises(ValueError, match="k: expected a positive int"):
        knn_accuracy(x, y, xt, yt, k=0)
    with pytest.raises(ValueError, match="epochs"):
        linear_probe(x, y, xt, yt, epochs=0)
    with pytest.raises(ValueError, match="train_labels: labels are required"):
        knn_accuracy(x, None, xt, yt)
