"""The FAISS side of a [`Retriever`][slimkit.retrieval.Retriever]: importing faiss (with an install hint), choosing
the CPU or a GPU, building the index of a kind, and the OpenMP thread count of a call.

FAISS is imported on first use, never at ``import slimkit``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["GPU_MAX_K", "resolve_device", "build_index", "faiss_threads"]

GPU_MAX_K = 2048  # faiss GPU k-selection limit (also for nprobe)
_SMALL_BATCH = 20  # fewer queries than this search with one thread (faiss' own BLAS threshold)

_INSTALL_HINT = (
    "slimkit.Retriever needs FAISS. Install one of:\n"
    "  pip install 'slimkit[faiss]'   # faiss-cpu: Linux, macOS arm64, Windows\n"
    "  pip install 'slimkit[gpu]'     # faiss-gpu: Linux x86_64 with CUDA 12\n"
    "Install only one of faiss-cpu / faiss-gpu: both ship the `faiss` module and overwrite each other. To "
    "switch, `pip uninstall -y faiss-cpu faiss-gpu`, then install the one you want."
)
_fork_hook_registered = False


def _faiss() -> Any:
    """Import faiss lazily, with an install hint instead of a bare ImportError."""
    global _fork_hook_registered
    try:
        import faiss
    except ImportError as e:
        raise ImportError(f"{_INSTALL_HINT}\n(import faiss failed: {e})") from e
    if not _fork_hook_registered and hasattr(os, "register_at_fork"):
        # A forked child inherits a dead OpenMP pool: multi-threaded faiss calls there hang.
        os.register_at_fork(after_in_child=lambda: faiss.omp_set_num_threads(1))
        _fork_hook_registered = True
    return faiss



def resolve_device(device: Any, faiss: Any) -> int | None:
    """The GPU number of ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``), or ``None`` for the CPU."""
    has_gpu = hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    if device == "auto":
        return 0 if has_gpu else None
    if device == "cpu":
        return None
    if isinstance(device, str) and (device == "cuda" or device.startswith("cuda:")):
        num = 0 if device == "cuda" else device.split(":", 1)[1]
        if not str(num).isdigit():
            raise ValueError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        if not has_gpu:
            raise ValueError(
                f"device: {device!r} needs faiss-gpu and a visible GPU; this FAISS "
                f"({faiss.__version__}) sees {faiss.get_num_gpus()} GPUs. Use device='cpu' or 'auto', or "
                "install 'slimkit[gpu]'."
            )
        if int(num) >= faiss.get_num_gpus():
            raise ValueError(f"device: {device!r} but only {faiss.get_num_gpus()} GPUs are visible")
        return int(num)
    raise ValueError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def build_index(faiss: Any, dim: int, metric: str, index_type: str, *, hnsw_m: int, ef_construction: int,
                ef_search: int, nlist: int | None = None) -> Any:
    """An empty CPU index over int64 keys: ``IndexIDMap2`` around a flat or HNSW index, or a bare IVF (once
    ``nlist`` is known: IVF stores keys natively)."""
    # HNSW graphs are built better with L2; on unit vectors L2 ranks exactly like cosine.
    faiss_metric = faiss.METRIC_L2 if metric == "l2" or index_type == "hnsw" else faiss.METRIC_INNER_PRODUCT
    if index_type == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, hnsw_m, faiss_metric)
        inner.hnsw.efConstruction = ef_construction
        inner.hnsw.efSearch = ef_search
    elif index_type == "ivf" and nlist is not None:
        # IVF stores our keys natively; an IndexIDMap2 around it would mis-map ids after remove_ids
        # (IDMap compacts its table while IVF lists keep their old positions).
        return faiss.index_factory(dim, f"IVF{nlist},Flat", faiss_metric)
    else:  # flat, or IVF before training
        inner = faiss.IndexFlatIP(dim) if faiss_metric == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(dim)
    return faiss.IndexIDMap2(inner)


@contextmanager
def faiss_threads(threads: int | None, num_queries: int | None = None) -> Iterator[None]:
    """FAISS (OpenMP) threads of the calling thread for the duration of the block; ``None`` keeps FAISS's
    default, except that a search of fewer than 20 queries uses one thread."""
    if threads is None and num_queries is not None and num_queries < _SMALL_BATCH:
        # faiss runs small batches sequentially anyway, but IndexIDMap's id translation still opens an
        # OpenMP region: on a busy machine its barrier cost 19 ms per single-query search (measured).
        threads = 1
    if threads is None:
        yield
        return
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(threads))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
