"""Retriever: exactness against numpy, ANN recall, ids/labels/metadata, removal, persistence, errors,
threads."""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

faiss = pytest.importorskip("faiss")

from slimkit.retrieval import FORMAT_VERSION, Retriever, SearchResult  # noqa: E402


def unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    return rng.standard_normal((3000, 32)).astype(np.float32), rng.standard_normal((40, 32)).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def big():
    """20k x 64 uniform random unit vectors (the hardest case for ANN) and exact top-10 by numpy."""
    rng = np.random.default_rng(7)
    x = unit(rng.standard_normal((20_000, 64)))
    q = unit(rng.standard_normal((200, 64)))
    gt = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :10]
    return x, q, gt


def recall_at_10(found: np.ndarray, gt: np.ndarray) -> float:
    return float(
        np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(found, gt, strict=True)])
    )


# ---- exactness ---------------------------------------------------------------------------------------------
def test_flat_cosine_equals_numpy_topk(data):
    x, q = data
    r = Retriever(32, metric="cosine", index="flat", device="cpu")
    r.add(x)
    res = r.search(q, k=10)
    sims = unit(q) @ unit(x).T
    want = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(res.ids, want)
    np.testing.assert_allclose(res.scores, np.take_along_axis(sims, want, 1), atol=1e-5)
    assert res.ids.shape == res.scores.shape == (40, 10) and res.ids.dtype == np.int64


def test_flat_l2_equals_numpy_topk(data):
    x, q = data
    r = Retriever(32, metric="l2", device="cpu")
    r.add(x, ids=np.arange(3000) * 2 + 5)  # ids are not row numbers
    res = r.search(q, k=7)
    d2 = ((q[:, None, :] - x[None]) ** 2).sum(-1)
    want = np.argsort(d2, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(res.ids, want * 2 + 5)
    np.testing.assert_allclose(res.scores, np.take_along_axis(d2, want, 1), rtol=1e-4, atol=1e-3)
    assert np.all(np.diff(res.scores, axis=1) >= 0)  # l2: ascending distances


def test_k_larger_than_items_is_clamped_to_the_items():
    # k is clamped to the number of items (issue 12: k=10**9 on a 3-item index must not allocate 10**9 slots)
    r = Retriever(4, device="cpu")
    r.add(np.eye(4, dtype=np.float32)[:3], ids=["a", "b", "c"], labels=[0, 1, 2])
    res = r.search(np.array([1, 0, 0, 0], dtype=np.float32), k=5)
    assert res.ids.shape == res.scores.shape == res.labels.shape == (1, 3)
    assert res.ids[0, 0] == "a" and np.isfinite(res.scores).all() and res.labels[0, 0] == 0
    assert r.search(np.ones(4, dtype=np.float32), k=10**9).ids.shape == (1, 3)
    r2 = Retriever(4, metric="l2", device="cpu")
    r2.add(np.eye(4, dtype=np.float32)[:2])
    res2 = r2.search(np.ones(4, dtype=np.float32), k=3)
    assert res2.ids.shape == (1, 2) and np.isfinite(res2.scores).all()


def test_result_unpacks_and_reads_like_a_dict(data):
    x, q = data
    r = Retriever(32, device="cpu")
    r.add(x[:100], labels=list(range(100)))
    res = r.search(q[:3], k=2)
    assert isinstance(res, SearchResult) and len(res) == 3
    ids, scores, labels = res
    assert ids is res["ids"] and scores is res["scores"] and labels is res["labels"]
    np.testing.assert_array_equal(labels, ids)  # label i was given to id i
    with pytest.raises(KeyError):
        res["nope"]


def test_torch_tensors_are_accepted(data):
    x, q = data
    r = Retriever(32, device="cpu")
    r.add(torch.from_numpy(x[:200]).double())
    a = r.search(torch.from_numpy(q), k=3)
    b = r.search(q, k=3)
    np.testing.assert_array_equal(a.ids, b.ids)


# ---- approximate indexes -----------------------------------------------------------------------------------
def test_ivf_recall_at_10(big):
    x, q, gt = big
    r = Retriever(64, index="ivf", device="cpu", nlist=256)
    r.add(x)
    assert r.is_trained and r.nlist == 256
    res = r.search(q, k=10, nprobe=128)
    assert recall_at_10(res.ids, gt) >= 0.9
    # fewer probes = lower recall: the parameter really reaches faiss
    assert recall_at_10(r.search(q, k=10, nprobe=2).ids, gt) < 0.6


def test_hnsw_recall_at_10(big):
    x, q, gt = big
    r = Retriever(64, index="hnsw", device="cpu", hnsw_m=32, ef_construction=40, ef_search=128)
    r.add(x)
    assert recall_at_10(r.search(q, k=10).ids, gt) >= 0.9
    assert recall_at_10(r.search(q, k=10, ef_search=10).ids, gt) < recall_at_10(r.search(q, k=10).ids, gt)


def test_ivf_small_sets_stay_exact_until_trained(data):
    x, q = data
    r = Retriever(32, index="ivf", device="cpu", train_size=2000)
    r.add(x[:1000])
    assert not r.is_trained  # below train_size: exact flat phase
    exact = Retriever(32, device="cpu")
    exact.add(x[:1000])
    np.testing.assert_array_equal(r.search(q, k=5).ids, exact.search(q, k=5).ids)
    r.add(x[1000:2500], ids=range(1000, 2500))  # crosses train_size: trains on all 2500 and moves them in
    assert r.is_trained and r.nlist == min(round(4 * np.sqrt(2500)), 2500 // 39)
    assert len(r) == 2500 and r.faiss_index.ntotal == 2500
    full = r.search(q, k=1, nprobe=r.nlist)  # all lists probed: exact again
    exact.add(x[1000:2500], ids=range(1000, 2500))
    np.testing.assert_array_equal(full.ids, exact.search(q, k=1).ids)
    with pytest.raises(ValueError, match="already trained"):
        r.train()


def test_ivf_explicit_train_on_sample(data):
    x, q = data
    r = Retriever(32, index="ivf", device="cpu", nlist=16)
    r.add(x[:50])
    r.train(x)  # train on a sample; the 50 stored vectors move into the IVF
    assert r.is_trained and len(r) == 50 and r.faiss_index.ntotal == 50
    assert r.search(x[:5], k=1, nprobe=16).ids[:, 0].tolist() == [0, 1, 2, 3, 4]


# ---- ids, labels, metadata, removal ------------------------------------------------------------------------
def test_string_ids_labels_and_metadata(data):
    x, _ = data
    r = Retriever(32, device="cpu")
    names = [f"clip_{i:04d}" for i in range(300)]
    r.add(
        x[:300],
        ids=names,
        labels=[f"action{i % 7}" for i in range(300)],
        metadata=[{"frame": i} for i in range(300)],
    )
    res = r.search(x[[5, 17]], k=3)
    assert res.ids[:, 0].tolist() == ["clip_0005", "clip_0017"]
    assert res.labels[:, 0].tolist() == ["action5", "action3"]
    assert res.metadata[0][0] == {"frame": 5} and res.metadata[1][0] == {"frame": 17}
    assert "clip_0005" in r and len(r) == 300
    with pytest.raises(TypeError, match="ids"):
        r.add(x[300:302], ids=[1, 2])  # int ids into a str Retriever
    with pytest.raises(ValueError, match="ids must be given"):
        r.add(x[300:302])


@pytest.mark.parametrize("index", ["flat", "ivf", "hnsw"])
def test_remove(index, data):
    x, _ = data
    r = Retriever(32, index=index, device="cpu", train_size=1000, nprobe=64)
    r.add(x[:2000], ids=[f"s{i}" for i in range(2000)], labels=list(range(2000)))
    gone = [f"s{i}" for i in range(0, 100)]
    assert r.remove(gone) == 100
    assert len(r) == 1900 and "s0" not in r and "s100" in r
    res = r.search(x[:100], k=5)
    assert not set(gone) & set(res.ids.ravel().tolist())
    # every hit's label still matches its id after removal (no shifted mappings)
    for i, lab in zip(res.ids.ravel(), res.labels.ravel(), strict=True):
        assert i == f"s{lab}"
    r.add(x[:1], ids=["s0"])  # a removed id can be added again
    assert r.search(x[:1], k=1).ids[0, 0] == "s0"
    with pytest.raises(KeyError, match="not in the Retriever"):
        r.remove(["s1"])


def test_hnsw_tombstones_compact_after_a_quarter(data):
    x, _ = data
    r = Retriever(32, index="hnsw", device="cpu")
    r.add(x[:400])
    r.remove(list(range(50)))
    assert r.faiss_index.ntotal == 400  # tombstones: still in the graph, skipped by search
    assert not set(range(50)) & set(r.search(x[:50], k=10).ids.ravel().tolist())
    r.remove(list(range(50, 100)))  # now 100 / 400 = a quarter -> rebuilt
    assert r.faiss_index.ntotal == 300 and len(r) == 300
    assert r.search(x[100:101], k=1).ids[0, 0] == 100


# ---- persistence -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", ["flat", "ivf", "hnsw"])
def test_save_load_round_trip(index, data, tmp_path):
    x, q = data
    r = Retriever(32, index=index, device="cpu", train_size=1000, info={"encoder": "org/model"})
    r.add(
        x[:1500],
        ids=[f"v{i}" for i in range(1500)],
        labels=[i % 5 for i in range(1500)],
        metadata=[{"i": i} for i in range(1500)],
    )
    r.remove(["v3", "v4"])
    before = r.search(q, k=8)
    path = tmp_path / "g.slimidx"
    r.save(path)
    r2 = Retriever.load(path)
    after = r2.search(q, k=8)
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_array_equal(before.scores, after.scores)
    np.testing.assert_array_equal(before.labels, after.labels)
    assert before.metadata == after.metadata
    assert len(r2) == 1498 and "v3" not in r2 and r2.info == {"encoder": "org/model"}
    assert (r2.index_type, r2.metric, r2.is_trained) == (index, "cosine", r.is_trained)
    r2.add(x[1500:1501], ids=["new"])  # the loaded retriever keeps working
    assert r2.search(x[1500], k=1).ids[0, 0] == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["g.slimidx"]  # no temp file left behind


def test_load_detects_corruption_and_truncation(data, tmp_path):
    x, _ = data
    r = Retriever(32, device="cpu")
    r.add(x[:200])
    path = tmp_path / "g.slimidx"
    r.save(path)
    raw = path.read_bytes()

    bad = bytearray(raw)
    bad[-10] ^= 0xFF  # inside the item table
    path.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="checksum mismatch in section 'state'"):
        Retriever.load(path)
    bad = bytearray(raw)
    bad[len(raw) // 2] ^= 0xFF  # inside the FAISS index
    path.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="checksum mismatch in section 'index'"):
        Retriever.load(path)
    path.write_bytes(raw[: len(raw) - 100])
    with pytest.raises(ValueError, match="truncated"):
        Retriever.load(path)
    path.write_bytes(raw[:30])
    with pytest.raises(ValueError, match="truncated"):
        Retriever.load(path)
    path.write_bytes(b"not an index")
    with pytest.raises(ValueError, match="not a slimkit Retriever file"):
        Retriever.load(path)
    # a file from a newer slimkit is refused by version, not misread
    hlen = int.from_bytes(raw[18:26], "little")
    header = json.loads(raw[58 : 58 + hlen])  # magic (18), length (8), header checksum (32), header
    header["format_version"] = FORMAT_VERSION + 1
    head = json.dumps(header).encode()
    path.write_bytes(raw[:18] + len(head).to_bytes(8, "little") + raw[26:58] + head + raw[58 + hlen :])
    with pytest.raises(ValueError, match="format_version"):
        Retriever.load(path)
    path.write_bytes(raw)
    assert len(Retriever.load(path)) == 200


# ---- errors ------------------------------------------------------------------------------------------------
def test_input_errors_name_the_argument(data):
    x, _ = data
    r = Retriever(32, device="cpu")
    with pytest.raises(ValueError, match=r"search: the Retriever is empty"):
        r.search(x[:1])
    with pytest.raises(ValueError, match=r"embeddings: expected shape \(N, 32\).*\(10, 16\)"):
        r.add(np.zeros((10, 16), np.float32))
    bad = x[:5].copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"embeddings: rows \[2\] contain NaN"):
        r.add(bad)
    with pytest.raises(ValueError, match="embeddings: rows .* zero norm"):
        r.add(np.zeros((2, 32), np.float32))
    with pytest.raises(ValueError, match="ids: duplicate"):
        r.add(x[:3], ids=[1, 2, 1])
    with pytest.raises(ValueError, match="labels: expected 3 values .* got 2"):
        r.add(x[:3], labels=[0, 1])
    with pytest.raises(ValueError, match="ids: expected 3 values"):
        r.add(x[:3], ids=[0, 1])
    with pytest.raises(ValueError, match="ids: expected ints >= 0"):
        r.add(x[:1], ids=[-1])
    with pytest.raises(TypeError, match="metadata"):
        r.add(x[:1], metadata=[object()])
    assert len(r) == 0  # failed adds leave nothing behind
    r.add(x[:3], ids=[10, 11, 12])
    with pytest.raises(ValueError, match="ids: 1 ids are already in the Retriever"):
        r.add(x[3:5], ids=[12, 13])
    with pytest.raises(ValueError, match=r"queries: expected shape \(N, 32\)"):
        r.search(np.zeros((1, 31), np.float32))
    with pytest.raises(ValueError, match="k: expected a positive int"):
        r.search(x[:1], k=0)
    assert len(r) == 3 and r.faiss_index.ntotal == 3
    for kwargs, arg in (
        (dict(metric="dot"), "metric"),
        (dict(index="pq"), "index"),
        (dict(device="tpu"), "device"),
    ):
        with pytest.raises(ValueError, match=arg):
            Retriever(32, **kwargs)


def test_cuda_without_gpu_is_a_clear_error():
    if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        pytest.skip("a GPU is visible to faiss")
    with pytest.raises(ValueError, match="device: 'cuda' needs faiss-gpu"):
        Retriever(8, device="cuda")
    assert Retriever(8, device="auto").device == "cpu"


def test_missing_faiss_names_both_extras(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r"slimkit\[faiss\].*\n.*slimkit\[gpu\].*\nInstall only one"):
        Retriever(8)


def test_import_slimkit_does_not_import_faiss():
    code = (
        "import sys, slimkit, slimkit.retrieval, slimkit.eval; "
        "slimkit.Retriever; slimkit.knn_accuracy; assert 'faiss' not in sys.modules, 'faiss imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# ---- concurrency -------------------------------------------------------------------------------------------
def test_eight_threads_search_like_sequential(big):
    x, q, _ = big
    r = Retriever(64, index="hnsw", device="cpu")
    r.add(x[:5000], ids=[f"n{i}" for i in range(5000)])
    chunks = np.array_split(q, 8)
    want = [r.search(c, k=10) for c in chunks]
    got: list = [None] * 8
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(5):
            got[i] = r.search(chunks[i], k=10)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(w.ids, g.ids)
        np.testing.assert_array_equal(w.scores, g.scores)


def test_adds_and_removes_during_searches_stay_consistent(data):
    x, q = data
    r = Retriever(32, device="cpu")
    r.add(x[:500], labels=list(range(500)))
    errors: list = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            res = r.search(q, k=5)
            ok = (res.ids == res.labels) | (res.ids == -1)
            if not ok.all():
                errors.append(res)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    for s in range(500, 3000, 250):
        r.add(x[s : s + 250], ids=range(s, s + 250), labels=list(range(s, s + 250)))
        r.remove(list(range(s - 500, s - 400)))
    stop.set()
    for t in readers:
        t.join()
    assert not errors
    assert len(r) == 3000 - 1000


def test_num_threads_is_applied_and_restored(data):
    x, q = data
    before = faiss.omp_get_max_threads()
    r = Retriever(32, device="cpu", num_threads=1)
    r.add(x)
    ref = Retriever(32, device="cpu")
    ref.add(x)
    np.testing.assert_array_equal(r.search(q, k=4).ids, ref.search(q, k=4).ids)
    assert faiss.omp_get_max_threads() == before
    with pytest.raises(ValueError, match="num_threads"):
        Retriever(32, num_threads=0)


def _child_search(r: Retriever, q: np.ndarray, out: mp.Queue) -> None:
    out.put(r.search(q, k=3).ids[:, 0].tolist())


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_forked_child_can_search_after_parent_did():
    # Without slimkit's at-fork hook, a forked child's multi-threaded faiss search hangs (OpenMP pool).
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20_000, 64)).astype(np.float32)
    r = Retriever(64, metric="l2", device="cpu")
    r.add(x)
    r.search(x[:500], k=3)  # starts the OpenMP pool in the parent
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    p = ctx.Process(target=_child_search, args=(r, x[:500], out))
    p.start()
    p.join(30)
    hung = p.is_alive()
    if hung:
        p.kill()
    assert not hung, "forked child hung in faiss search"
    assert out.get(timeout=5)[:5] == [0, 1, 2, 3, 4]


# ---- GPU routing (simulated: no GPU here) ----------------------------------------------------------------
class _FakeGpu:
    """Stands in for faiss-gpu's API: a "GPU index" is a CPU clone that counts its searches."""

    def __init__(self) -> None:
        self.clones = 0
        self.searches = 0
        self.nprobe: list[int] = []
        fake = self

        class Resources:
            pass

        class ParameterSpace:
            def set_index_parameter(self, index, name, value):
                assert name == "nprobe"
                fake.nprobe.append(value)
                index.inner.nprobe = value

        class GpuIndex:
            def __init__(self, inner):
                self.inner = inner

            def search(self, q, k):
                assert k <= 2048, "the GPU path must not see k > 2048"
                fake.searches += 1
                return self.inner.search(q, k)

        def to_gpu(res, device, index):
            assert isinstance(res, Resources) and device == 0
            fake.clones += 1
            return GpuIndex(faiss.clone_index(index))

        self.Resources, self.ParameterSpace, self.to_gpu = Resources, ParameterSpace, to_gpu


@pytest.fixture
def fake_gpu(monkeypatch):
    fake = _FakeGpu()
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(faiss, "StandardGpuResources", fake.Resources, raising=False)
    monkeypatch.setattr(faiss, "GpuParameterSpace", fake.ParameterSpace, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", fake.to_gpu, raising=False)
    return fake


def test_gpu_routing_with_a_simulated_gpu(fake_gpu, data):
    x, q = data
    r = Retriever(32)  # device="auto" picks the GPU when faiss-gpu reports one
    cpu = Retriever(32, device="cpu")
    assert r.device == "cuda:0" and cpu.device == "cpu"
    r.add(x[:1000])
    cpu.add(x[:1000])
    np.testing.assert_array_equal(r.search(q, k=5).ids, cpu.search(q, k=5).ids)
    r.search(q, k=5)
    assert (fake_gpu.clones, fake_gpu.searches) == (1, 2)  # cloned once, then reused
    r.add(x[1000:1100])  # a mutation invalidates the GPU copy
    cpu.add(x[1000:1100])
    np.testing.assert_array_equal(r.search(q, k=5).ids, cpu.search(q, k=5).ids)
    assert fake_gpu.clones == 2
    r.add(x[1100:2100])
    big = r.search(q[:2], k=2049)  # above the GPU limit: CPU fallback
    assert fake_gpu.searches == 3 and big.ids.shape == (2, 2049) and (big.ids >= 0).all()
    r.search(q[:2], k=3000)  # clamped to the 2100 items: still above the GPU limit
    assert fake_gpu.searches == 3
    r.search(q[:2], k=2048)
    assert fake_gpu.searches == 4

    h = Retriever(32, index="hnsw")  # HNSW has no GPU version: stays on the CPU
    h.add(x[:200])
    h.search(q, k=3)
    assert fake_gpu.searches == 4

    ivf = Retriever(32, index="ivf", nlist=16, train_size=1000)
    ivf.add(x)
    assert ivf.is_trained
    ivf.search(q, k=3)
    ivf.search(q, k=3, nprobe=16)
    assert fake_gpu.nprobe == [2, 16] and fake_gpu.searches == 6  # default nprobe = nlist // 8
