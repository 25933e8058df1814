"""Retriever (FAISS flat / IVF / HNSW) against exact numpy brute force: build time, queries/s, recall@10.

One run embeds nothing: it searches ``--n`` random unit vectors of width ``--dim`` (default 100k x 256) with
``--queries`` held-out queries, cosine similarity, k = 10. Ground truth is numpy's exact top-10 (a float32
matrix product and a partial sort, in chunks); recall@10 is the share of those ten found. Queries/s are
measured two ways: ``batch`` (all queries in one call: throughput) and ``single`` (one query per call, like an
interactive search: latency-bound); each is the median of ``--repeats`` runs after one warm-up.

Data (``--data``): ``clustered`` (default) draws from a mixture of 1,000 Gaussian clusters, closer to action
embeddings, which cluster by class; ``uniform`` draws uniformly on the sphere, the worst case for approximate
indexes (no structure to exploit), so IVF/HNSW recall there is a lower bound.

Run:  python benchmarks/retrieval.py [--n 100000 --dim 256 --queries 1000 --data clustered]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines.env import emit, machine_info  # noqa: E402
from slimkit.retrieval import Retriever  # noqa: E402


def unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def make_data(kind: str, n: int, q: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return unit(rng.standard_normal((n, dim), dtype=np.float32)), unit(rng.standard_normal((q, dim), dtype=np.float32))
    centers = rng.standard_normal((1000, dim), dtype=np.float32)
    # within-cluster spread comparable to the distance between clusters: neighbours are not trivial
    def draw(m: int) -> np.ndarray:
        return unit(centers[rng.integers(0, 1000, m)] + 0.6 * rng.standard_normal((m, dim), dtype=np.float32))
    return draw(n), draw(q)


def numpy_topk(x: np.ndarray, q: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """Exact cosine top-k of unit vectors by brute force: the baseline and the ground truth."""
    out = np.empty((q.shape[0], k), dtype=np.int64)
    for s in range(0, q.shape[0], chunk):
        sims = q[s:s + chunk] @ x.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, 1), axis=1, kind="stable")
        out[s:s + chunk] = np.take_along_axis(part, order, 1)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(found, truth)]))


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="database vectors")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--single", type=int, default=200, help="queries timed one per call")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--data", choices=["clustered", "uniform"], default="clustered")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--methods", default="numpy,flat,ivf,hnsw")
    args = ap.parse_args(argv)

    import faiss

    info = machine_info("cpu")
    info.update(faiss=faiss.__version__, faiss_threads=faiss.omp_get_max_threads(), numpy=np.__version__,
                faiss_gpu=hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0)
    emit("machine", **info)
    x, q = make_data(args.data, args.n, args.queries, args.dim)
    k = args.k
    common = dict(n=args.n, dim=args.dim, queries=args.queries, k=k, data=args.data, metric="cosine")
    t0 = time.perf_counter()
    truth = numpy_topk(x, q, k)
    emit("ground_truth_time", method="numpy", seconds=round(time.perf_counter() - t0, 3), **common)
    methods = args.methods.split(",")

    if "numpy" in methods:
        qs = q[: args.single]
        batch = median_time(lambda: numpy_topk(x, q, k), args.repeats)
        single = median_time(lambda: [numpy_topk(x, qs[i:i + 1], k) for i in range(len(qs))], args.repeats)
        emit("build_s", method="numpy", value=0.0, **common)
        emit("qps_batch", method="numpy", value=round(args.queries / batch, 1), **common)
        emit("qps_single", method="numpy", value=round(len(qs) / single, 1), **common)
        emit("recall_at_k", method="numpy", value=1.0, **common)

    configs = {
        "flat": [dict(index="flat")],
        "ivf": [dict(index="ivf"), dict(index="ivf", nprobe_override=4)],  # default nprobe, then 4x it
        "hnsw": [dict(index="hnsw")],
    }
    for name in ("flat", "ivf", "hnsw"):
        if name not in methods:
            continue
        t0 = time.perf_counter()
        r = Retriever(args.dim, index=name, device="cpu")
        r.add(x)
        build = time.perf_counter() - t0
        params = {"nlist": r.nlist, "nprobe": (r.nprobe or max(1, (r.nlist or 0) // 8)),
                  "trained": r.is_trained} if name == "ivf" else (
            {"M": r.hnsw_m, "ef_construction": r.ef_construction, "ef_search": r.ef_search} if name == "hnsw" else {})
        emit("build_s", method=name, value=round(build, 3), params=params, **common)
        for cfg in configs[name]:
            kw = {}
            p = dict(params)
            if "nprobe_override" in cfg:
                kw["nprobe"] = p["nprobe"] = min(r.nlist, params["nprobe"] * cfg["nprobe_override"])
            qs = q[: args.single]
            batch = median_time(lambda: r.search(q, k=k, **kw), args.repeats)
            single = median_time(lambda: [r.search(qs[i], k=k, **kw) for i in range(len(qs))], args.repeats)
            ids = r.search(q, k=k, **kw).ids
            emit("qps_batch", method=name, value=round(args.queries / batch, 1), params=p, **common)
            emit("qps_single", method=name, value=round(len(qs) / single, 1), params=p, **common)
            emit("recall_at_k", method=name, value=round(recall(ids, truth), 4), params=p, **common)
        del r


if __name__ == "__main__":
    main()
