"""Retriever (FAISS flat / IVF / HNSW) against exact numpy brute force: build time, queries/s, recall@10.

One run embeds nothing: it searches ``--n`` random unit vectors of width ``--dim`` (default 100k x 256) with
``--queries`` held-out queries, cosine similarity, k = 10. Ground truth is numpy's exact top-10 (a float32
matrix product and a partial sort, in chunks); recall@10 is the share of those ten found. Queries/s are
measured two ways: ``batch`` (all queries in one call: throughput) and ``single`` (one query per call, like an
interactive search: latency-bound). All indexes are built first, then every method is timed once per round,
methods alternating, so drifting load on a shared machine hits all alike; medians of ``--repeats`` rounds.

Data (``--data``): ``clustered`` (default) draws from a mixture of 1,000 Gaussian clusters, closer to action
embeddings, which cluster by class; ``uniform`` draws uniformly on the sphere, the worst case for approximate
indexes (no structure to exploit), so IVF/HNSW recall there is a lower bound.

Run:  python benchmarks/retrieval.py [--n 100000 --dim 256 --queries 1000 --data clustered]
"""

from __future__ import annotations

import argparse
import os
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
        return unit(rng.standard_normal((n, dim), dtype=np.float32)), unit(
            rng.standard_normal((q, dim), dtype=np.float32)
        )
    centers = rng.standard_normal((1000, dim), dtype=np.float32)

    # within-cluster spread comparable to the distance between clusters: neighbours are not trivial
    def draw(m: int) -> np.ndarray:
        return unit(centers[rng.integers(0, 1000, m)] + 0.6 * rng.standard_normal((m, dim), dtype=np.float32))

    return draw(n), draw(q)


def numpy_topk(x: np.ndarray, q: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """Exact cosine top-k of unit vectors by brute force: the baseline and the ground truth."""
    out = np.empty((q.shape[0], k), dtype=np.int64)
    for s in range(0, q.shape[0], chunk):
        sims = q[s : s + chunk] @ x.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, 1), axis=1, kind="stable")
        out[s : s + chunk] = np.take_along_axis(part, order, 1)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(
        np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(found, truth, strict=True)])
    )


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
    info.update(
        faiss=faiss.__version__,
        faiss_threads=faiss.omp_get_max_threads(),
        numpy=np.__version__,
        faiss_gpu=hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0,
    )
    emit("machine", **info)
    x, q = make_data(args.data, args.n, args.queries, args.dim)
    k = args.k
    common = dict(n=args.n, dim=args.dim, queries=args.queries, k=k, data=args.data, metric="cosine")
    t0 = time.perf_counter()
    truth = numpy_topk(x, q, k)
    emit("ground_truth_time", method="numpy", seconds=round(time.perf_counter() - t0, 3), **common)
    methods = args.methods.split(",")
    qs = q[: args.single]

    # Build every index first; then time all methods alternately in each round, so that load drifting on a
    # shared machine hits every method alike. Medians over the rounds are reported.
    runs: dict[str, tuple[Callable[[np.ndarray], np.ndarray], dict]] = {}
    if "numpy" in methods:
        emit("build_s", method="numpy", value=0.0, params={}, **common)
        runs["numpy"] = (lambda a: numpy_topk(x, a, k), {})
    for name in ("flat", "ivf", "hnsw"):
        if name not in methods:
            continue
        t0 = time.perf_counter()
        r = Retriever(args.dim, index=name, device="cpu")
        r.add(x)
        build = time.perf_counter() - t0
        if name == "ivf":
            nprobe = r.nprobe or max(1, (r.nlist or 8) // 8)
            params = {"nlist": r.nlist, "nprobe": nprobe, "trained": r.is_trained}
        elif name == "hnsw":
            params = {"M": r.hnsw_m, "ef_construction": r.ef_construction, "ef_search": r.ef_search}
        else:
            params = {}
        emit("build_s", method=name, value=round(build, 3), params=params, **common)
        runs[name] = (lambda a, r=r: r.search(a, k=k).ids, params)
        if name == "ivf" and r.is_trained:  # a second operating point: 4x the default nprobe
            hi = dict(params, nprobe=min(r.nlist, 4 * params["nprobe"]))
            runs["ivf_nprobe_x4"] = (lambda a, r=r, p=hi["nprobe"]: r.search(a, k=k, nprobe=p).ids, hi)

    for name, (fn, params) in runs.items():
        emit("recall_at_k", method=name, value=round(recall(fn(q), truth), 4), params=params, **common)
    batch: dict[str, list[float]] = {name: [] for name in runs}
    single: dict[str, list[float]] = {name: [] for name in runs}
    for fn, _ in runs.values():  # warm-up
        fn(q[:50])
    for _ in range(args.repeats):
        for name, (fn, _) in runs.items():
            t0 = time.perf_counter()
            fn(q)
            batch[name].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(len(qs)):
                fn(qs[i : i + 1])
            single[name].append(time.perf_counter() - t0)
    for name, (_, params) in runs.items():
        emit(
            "qps_batch",
            method=name,
            value=round(args.queries / statistics.median(batch[name]), 1),
            params=params,
            **common,
        )
        emit(
            "qps_single",
            method=name,
            value=round(len(qs) / statistics.median(single[name]), 1),
            params=params,
            **common,
        )
    emit("load_avg_1m_end", value=round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None)


if __name__ == "__main__":
    main()
