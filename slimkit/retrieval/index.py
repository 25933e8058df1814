"""[`Retriever`][slimkit.retrieval.Retriever]: a FAISS index of embeddings with ids, labels and metadata, searched
by many threads at once and saved to one checked file. One cohesive class; the FAISS side lives in
``backend``, the input checks in ``items``, the file format in ``store``.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import check_positive_int
from .backend import GPU_MAX_K, _faiss, build_index, faiss_threads, resolve_device
from .items import _INT64_MAX, _as_float32, _as_vectors, _item_list, _one_kind
from .store import read_file, write_file

__all__ = ["Retriever", "SearchResult"]

_CONFIG_FIELDS = ("dim", "metric", "index", "nlist", "nprobe", "train_size", "hnsw_m", "ef_construction",
                  "ef_search", "num_threads", "info")


class _RWLock:
    """Many readers or one writer; a waiting writer blocks new readers (no writer starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass
class SearchResult:
    """Hits of [`Retriever.search`][slimkit.retrieval.Retriever.search], one row per query, best first.

    Unpacks as ``ids, scores, labels = result`` and reads like a dict (``result["ids"]``).

    Attributes:
        ids: ``(Q, k)`` int64 (``-1`` = empty slot) or object array of str (``None`` = empty slot).
        scores: ``(Q, k)`` float32: cosine similarity (``-inf`` = empty) or squared L2 distance (``+inf`` =
            empty).
        labels: ``(Q, k)`` int64 (``-1`` = empty slot or unlabelled) or object array (``None``); ``None`` when
            no item was added with labels.
        metadata: ``Q`` lists of ``k`` metadata values (``None`` where absent); ``None`` when no item has any.
    """

    ids: np.ndarray
    scores: np.ndarray
    labels: np.ndarray | None
    metadata: list[list[Any]] | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.ids, self.scores, self.labels))

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(f"SearchResult has keys {self.keys()}, got {key!r}")
        return getattr(self, key)

    def keys(self) -> tuple[str, ...]:
        return ("ids", "scores", "labels", "metadata")

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class Retriever:
    """A FAISS index of embeddings with ids, labels and metadata, savable to one file.

    Args:
        dim: Width ``D`` of the embeddings.
        metric: ``"cosine"`` (vectors are L2-normalised; score = cosine similarity, higher is closer) or
            ``"l2"`` (score = squared Euclidean distance, lower is closer).
        index: ``"flat"`` (exact), ``"ivf"`` (IVF-Flat: approximate, trained k-means lists) or ``"hnsw"``
            (graph, approximate, CPU only, no training).
        device: ``"auto"`` (a GPU when faiss-gpu is installed and sees one, else CPU), ``"cpu"``, ``"cuda"``
            or ``"cuda:N"``. HNSW always runs on the CPU; on a GPU, ``k`` or ``nprobe`` above 2048 fall back
            to the CPU.
        nlist: IVF lists; ``None`` picks ``4 * sqrt(n)`` at training time, capped at ``n / 39`` so that every
            list gets enough training points.
        nprobe: IVF lists visited per query; ``None`` uses ``max(1, nlist // 8)``. Higher: better recall,
            slower.
        train_size: IVF only. Vectors are kept in an exact flat index until this many (and at least ``nlist``)
            have been added; the IVF is then trained on all of them and they move into it. Call
            [`train`][slimkit.retrieval.Retriever.train]
            to train earlier.
        hnsw_m: HNSW graph degree ``M``.
        ef_construction: HNSW build-time beam width.
        ef_search: HNSW search beam width (higher = better recall, slower); at least ``k`` is used.
        num_threads: FAISS (OpenMP) threads for ``add`` and ``search``, set in the calling thread for the
            duration of each call; ``None`` keeps FAISS's default (all cores, or ``OMP_NUM_THREADS``), except
            that searches of fewer than 20 queries use one thread (lower latency, and concurrent searches
            from several Python threads then scale instead of contending).
        info: JSON-serialisable notes saved with the index (e.g. the encoder repo id and revision).

    Raises:
        ImportError: FAISS is not installed (the message says how to install it).
    """

    def __init__(
        self,
        dim: int,
        metric: str = "cosine",
        index: str = "flat",
        device: str = "auto",
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        train_size: int = 10_000,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 128,
        num_threads: int | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        faiss = _faiss()
        dim = check_positive_int(dim, "dim")
        if metric not in ("cosine", "l2"):
            raise ValueError(f"metric: expected 'cosine' or 'l2', got {metric!r}")
        if index not in ("flat", "ivf", "hnsw"):
            raise ValueError(f"index: expected 'flat', 'ivf' or 'hnsw', got {index!r}")
        for name, v, lo in (
            ("nlist", nlist, 1),
            ("nprobe", nprobe, 1),
            ("train_size", train_size, 1),
            ("hnsw_m", hnsw_m, 2),
            ("ef_construction", ef_construction, 1),
            ("ef_search", ef_search, 1),
            ("num_threads", num_threads, 1),
        ):
            if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo):
                raise ValueError(f"{name}: expected an int >= {lo}, got {v!r}")
        if info is not None:
            try:
                json.dumps(info)
            except (TypeError, ValueError) as e:
                raise TypeError(f"info: expected a JSON-serialisable dict, got {info!r} ({e})") from None
        self.dim = int(dim)
        self.metric = metric
        self.index_type = index
        self.nlist = nlist
        self.nprobe = nprobe
        self.train_size = int(train_size)
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)
        self.num_threads = num_threads
        self.info = dict(info or {})
        self._gpu_id = resolve_device(device, faiss)
        self.device = "cpu" if self._gpu_id is None else f"cuda:{self._gpu_id}"
        self._requested_device = device
        self._lock = _RWLock()
        self._gpu_lock = threading.Lock()
        self._gpu_res: Any = None
        self._gpu_index: Any = None
        self._trained = index != "ivf"
        self._index = self._new_index(faiss)
        # per-item state, indexed by the private int64 key
        self._next_key = 0
        self._keys_ids: np.ndarray = np.empty(0, dtype=np.int64)
        self._keys_labels: np.ndarray | None = None
        self._keys_meta: list[Any] | None = None
        self._alive: np.ndarray = np.empty(0, dtype=bool)
        self._lookup: dict[Any, int] = {}
        self._id_kind: str | None = None
        self._label_kind: str | None = None
        self._tombstones: set[int] = set()  # HNSW keys removed but still in the graph
        self._next_auto_id = 0

    # ---- construction helpers ----------------------------------------------------------------------------
    def _new_index(self, faiss: Any, nlist: int | None = None) -> Any:
        return build_index(faiss, self.dim, self.metric, self.index_type, hnsw_m=self.hnsw_m,
                           ef_construction=self.ef_construction, ef_search=self.ef_search, nlist=nlist)

    def _threads(self, num_queries: int | None = None) -> Any:
        return faiss_threads(self.num_threads, num_queries)

    # ---- properties ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._lookup)

    def __contains__(self, item_id: Any) -> bool:
        return item_id in self._lookup

    def __repr__(self) -> str:
        return (
            f"Retriever(dim={self.dim}, metric={self.metric!r}, index={self.index_type!r}, "
            f"device={self.device!r}, items={len(self)})"
        )

    @property
    def is_trained(self) -> bool:
        """False for an IVF retriever still in its exact (pre-training) phase."""
        return self._trained

    @property
    def ids(self) -> list[Any]:
        """Ids of the items in the Retriever, in insertion order."""
        keys = np.flatnonzero(self._alive)
        return self._keys_ids[keys].tolist()

    @property
    def faiss_index(self) -> Any:
        """The CPU FAISS index over private int64 keys (``IndexIDMap2``, or the bare IVF once trained)."""
        return self._index

    # ---- mutation ------------------------------------------------------------------------------------------
    def add(
        self,
        embeddings: Any,
        ids: Sequence[Any] | np.ndarray | None = None,
        labels: Sequence[Any] | np.ndarray | None = None,
        metadata: Sequence[Any] | None = None,
        *,
        batch_size: int = 65_536,
    ) -> None:
        """Add embeddings with their ids, labels and metadata.

        Args:
            embeddings: ``(N, D)`` array or tensor (``(D,)`` for one vector); must be finite.
            ids: ``N`` unique ids, all int (>= 0) or all str, none already present. ``None`` numbers the items
                after the largest int id so far (only for int ids).
            labels: ``N`` labels (int or str), e.g. action classes; optional.
            metadata: ``N`` JSON-serialisable values (dicts, strings...), returned with the hits; optional.
            batch_size: Rows handed to FAISS per call; bounds the temporary memory.

        Raises:
            ValueError: Wrong width, non-finite values, duplicate ids, or ids/labels/metadata of another
                length.
            TypeError: ids or labels that are not int/str, or metadata that is not JSON-serialisable.
        """
        x = _as_float32(_as_vectors(embeddings, "embeddings", self.dim), "embeddings", self.metric)
        n = x.shape[0]
        batch_size = check_positive_int(batch_size, "batch_size")
        with self._lock.write():
            new_ids, id_kind = self._check_ids(ids, n)
            new_labels, label_kind = self._check_labels(labels, n)
            new_meta = None
            if metadata is not None:
                new_meta = _item_list(metadata, "metadata", n)
                try:
                    json.dumps(new_meta)
                except (TypeError, ValueError) as e:
                    raise TypeError(f"metadata: expected JSON-serialisable values, got {e}") from None
            keys = np.arange(self._next_key, self._next_key + n, dtype=np.int64)
            # Build every new per-item table first: nothing below the FAISS add can fail half-way, so a
            # failed add leaves neither a vector without an id nor an id without a vector.
            keys_ids = np.concatenate(
                [self._keys_ids, np.asarray(new_ids, dtype=np.int64 if id_kind == "int" else object)]
            )
            keys_labels = self._labels_after(new_labels, label_kind, n)
            # the metadata list and the id lookup grow in place below (copying them per call would make many
            # small adds quadratic); what they will receive is built now
            meta_tail = None
            if new_meta is not None or self._keys_meta is not None:
                meta_tail = new_meta if new_meta is not None else [None] * n
            alive = np.concatenate([self._alive, np.ones(n, dtype=bool)])
            new_pairs = list(zip(new_ids, keys.tolist(), strict=True))
            faiss = _faiss()
            old_index, old_trained, old_nlist = self._index, self._trained, self.nlist
            try:
                with self._threads():
                    if not self._trained and self._stored_count() + n >= max(self.train_size, self.nlist or 0):
                        self._index.add_with_ids(x, keys)  # joins the flat phase, then everything moves to IVF
                        self._train_from_stored(faiss)
                    else:
                        for s in range(0, n, batch_size):
                            self._index.add_with_ids(x[s : s + batch_size], keys[s : s + batch_size])
            except BaseException:
                self._index, self._trained, self.nlist = old_index, old_trained, old_nlist
                if old_index.ntotal > len(self._lookup) + len(self._tombstones):  # some vectors got in
                    if self.index_type == "hnsw":  # a graph cannot delete: the keys become tombstones
                        self._keys_ids = keys_ids
                        if meta_tail is not None:
                            self._keys_meta = (self._keys_meta or [None] * (self._next_key)) + meta_tail
                        if label_kind is not None:
                            self._keys_labels, self._label_kind = keys_labels, label_kind
                        self._alive = np.concatenate([self._alive, np.zeros(n, dtype=bool)])
                        self._tombstones.update(keys.tolist())
                        self._next_key += n
                    else:
                        old_index.remove_ids(faiss.IDSelectorBatch(keys))  # leave no half-added vectors
                raise
            # commit per-item state only after FAISS accepted the vectors (assignments and in-place growth)
            self._id_kind = id_kind
            self._keys_ids = keys_ids
            if label_kind is not None:
                self._keys_labels, self._label_kind = keys_labels, label_kind
            if meta_tail is not None:
                if self._keys_meta is None:
                    self._keys_meta = [None] * self._next_key
                self._keys_meta.extend(meta_tail)
            self._alive = alive
            self._lookup.update(new_pairs)
            if id_kind == "int":
                self._next_auto_id = max(self._next_auto_id, max(new_ids) + 1)
            self._next_key += n
            self._gpu_index = None

    def _id_dtype(self) -> Any:
        return np.int64 if self._id_kind == "int" else object

    def _check_ids(self, ids: Any, n: int) -> tuple[list[Any], str]:
        if ids is None:
            if self._id_kind == "str":
                raise ValueError("ids: this Retriever holds str ids, so ids must be given")
            return list(range(self._next_auto_id, self._next_auto_id + n)), "int"
        vals, kind = _one_kind(ids, "ids", n, self._id_kind, "ids")
        if kind == "int":
            if min(vals) < 0:
                raise ValueError(f"ids: expected ints >= 0 (-1 marks an empty result slot), got {min(vals)}")
            if max(vals) > _INT64_MAX:
                raise ValueError(f"ids: expected ints < 2**63 (stored as int64), got {max(vals)}")
        if len(set(vals)) != n:
            seen: set[Any] = set()
            dup = [v for v in vals if v in seen or seen.add(v)]
            raise ValueError(f"ids: duplicate ids within this call, e.g. {dup[:5]}")
        present = [v for v in vals if v in self._lookup]
        if present:
            raise ValueError(
                f"ids: {len(present)} ids are already in the Retriever, e.g. {present[:5]}; "
                "remove() them first to replace them"
            )
        return vals, kind

    def _check_labels(self, labels: Any, n: int) -> tuple[list[Any] | None, str | None]:
        if labels is None:
            return None, self._label_kind
        vals, kind = _one_kind(labels, "labels", n, self._label_kind, "labels")
        if kind == "int":
            out = [v for v in vals if not -_INT64_MAX - 1 <= v <= _INT64_MAX]
            if out:
                raise ValueError(f"labels: expected int labels that fit in int64, got {out[:5]}")
        return vals, kind

    def _labels_after(self, new: list[Any] | None, kind: str | None, n: int) -> np.ndarray | None:
        """The label table after adding ``n`` items with labels ``new`` (``None``: unlabelled)."""
        if kind is None:
            return self._keys_labels
        dtype, missing = (np.int64, -1) if kind == "int" else (object, None)
        old = self._keys_labels if self._keys_labels is not None else np.full(self._next_key, missing, dtype=dtype)
        add = np.asarray(new, dtype=dtype) if new is not None else np.full(n, missing, dtype=dtype)
        return np.concatenate([old, add])

    def _stored_count(self) -> int:
        return int(self._index.ntotal)

    def _train_from_stored(self, faiss: Any, sample: np.ndarray | None = None) -> None:
        """Build the IVF from the flat-phase index (and an optional training sample), keeping the keys."""
        flat = self._index
        stored = (
            flat.index.reconstruct_n(0, flat.ntotal) if flat.ntotal else np.empty((0, self.dim), np.float32)
        )
        keys = faiss.vector_to_array(flat.id_map).astype(np.int64)
        train = sample if sample is not None else stored
        n = train.shape[0]
        nlist = self.nlist or max(1, min(int(round(4 * math.sqrt(n))), n // 39))
        if n < nlist:
            raise ValueError(
                f"train: IVF with nlist={nlist} needs at least {nlist} training vectors, got {n}"
            )
        new = self._new_index(faiss, nlist)
        new.train(train)
        if stored.shape[0]:
            new.add_with_ids(stored, keys)
        self.nlist = nlist
        self._index = new
        self._trained = True

    def train(self, embeddings: Any = None) -> None:
        """Train the IVF lists now (IVF only; a no-op for flat and HNSW).

        Args:
            embeddings: Optional ``(N, D)`` training sample (not added). ``None`` trains on the vectors added
                so far. Items already added move into the trained index either way.

        Raises:
            ValueError: Already trained, or too few training vectors for ``nlist``.
        """
        if self.index_type != "ivf":
            return
        sample = None
        if embeddings is not None:
            sample = _as_float32(_as_vectors(embeddings, "embeddings", self.dim), "embeddings", self.metric)
        with self._lock.write():
            if self._trained:
                raise ValueError("train: this IVF Retriever is already trained (nlist is fixed once trained)")
            if sample is None and self._stored_count() == 0:
                raise ValueError("train: no vectors to train on; add embeddings or pass a training sample")
            with self._threads():
                self._train_from_stored(_faiss(), sample)
            self._gpu_index = None

    def remove(self, ids: Sequence[Any] | np.ndarray | Any) -> int:
        """Remove items by id.

        Flat and IVF indexes delete the vectors. HNSW graphs cannot delete: removed items become tombstones
        that searches skip (via a FAISS ``IDSelector``), and the graph is rebuilt without them once they make
        up a quarter of it (or when you call [`compact`][slimkit.retrieval.Retriever.compact]).

        Args:
            ids: One id or a sequence of ids; each must be present.

        Returns:
            The number of items removed.

        Raises:
            KeyError: An id is not in the Retriever (nothing is removed then).
        """
        vals = [ids] if isinstance(ids, (str, int, np.integer)) else list(ids)
        with self._lock.write():
            missing = [v for v in vals if (int(v) if isinstance(v, np.integer) else v) not in self._lookup]
            if missing:
                raise KeyError(f"ids: {len(missing)} ids are not in the Retriever, e.g. {missing[:5]}")
            keys = np.array(
                sorted({self._lookup[int(v) if isinstance(v, np.integer) else v] for v in vals}),
                dtype=np.int64,
            )
            if keys.size == 0:
                return 0
            faiss = _faiss()
            if self.index_type == "hnsw":
                self._tombstones.update(keys.tolist())
            else:
                self._index.remove_ids(faiss.IDSelectorBatch(keys))
            for k in keys.tolist():
                del self._lookup[self._keys_ids[k].item() if self._id_kind == "int" else self._keys_ids[k]]
            self._alive[keys] = False
            if self.index_type == "hnsw" and len(self._tombstones) * 4 >= self._index.ntotal:
                self._compact(faiss)
            self._gpu_index = None
            return int(keys.size)

    def compact(self) -> None:
        """Rebuild an HNSW graph without its tombstones (a no-op for flat and IVF)."""
        with self._lock.write():
            if self.index_type == "hnsw" and self._tombstones:
                self._compact(_faiss())

    def _compact(self, faiss: Any) -> None:
        old = self._index
        keys = faiss.vector_to_array(old.id_map).astype(np.int64)
        vecs = old.index.reconstruct_n(0, old.ntotal)
        keep = self._alive[keys]
        new = self._new_index(faiss)
        if keep.any():
            with self._threads():
                new.add_with_ids(np.ascontiguousarray(vecs[keep]), keys[keep])
        self._index = new
        self._tombstones.clear()

    # ---- search --------------------------------------------------------------------------------------------
    def search(
        self, queries: Any, k: int = 5, *, nprobe: int | None = None, ef_search: int | None = None
    ) -> SearchResult:
        """Find the ``k`` nearest items of each query.

        Args:
            queries: ``(Q, D)`` array or tensor (``(D,)`` for one query).
            k: Hits per query; clamped to the number of items, so ``(Q, min(k, len(self)))`` results come back
                and a huge ``k`` costs no memory. Slots an approximate search could not fill (an IVF probe
                that found fewer items) are empty: id ``-1`` / ``None``, score ``-inf`` for cosine, ``+inf``
                for l2.
            nprobe: IVF lists to visit for this call (default: the Retriever's ``nprobe``).
            ef_search: HNSW beam width for this call (default: the Retriever's ``ef_search``).

        Returns:
            A [`SearchResult`][slimkit.retrieval.SearchResult] with ``(Q, min(k, len(self)))`` ``ids``,
            ``scores`` and ``labels``, best first.

        Raises:
            ValueError: Empty Retriever, wrong query width, non-finite queries, or ``k < 1``.
        """
        k = check_positive_int(k, "k")
        for name, v in (("nprobe", nprobe), ("ef_search", ef_search)):
            if v is not None:
                check_positive_int(v, name)
        q = _as_float32(_as_vectors(queries, "queries", self.dim), "queries", self.metric)
        faiss = _faiss()
        with self._lock.read():
            if len(self._lookup) == 0:
                raise ValueError("search: the Retriever is empty (0 items); add embeddings before searching")
            k = min(k, len(self._lookup))  # more columns than items would only hold empty slots
            params = self._search_params(faiss, k, nprobe, ef_search)
            probe = getattr(params, "nprobe", 0) if params is not None else 0
            use_gpu = (
                self._gpu_id is not None
                and self.index_type != "hnsw"
                and k <= GPU_MAX_K
                and probe <= GPU_MAX_K
            )
            with self._threads(q.shape[0]):
                if use_gpu:
                    with self._gpu_lock:
                        gpu_index = self._gpu(faiss)
                        if (
                            probe
                        ):  # GPU IVF: set nprobe on the index (GPU searches are serialised by the lock)
                            faiss.GpuParameterSpace().set_index_parameter(gpu_index, "nprobe", probe)
                        dist, keys = gpu_index.search(q, k)
                else:
                    dist, keys = self._index.search(q, k, params=params)
            return self._result(dist, keys)

    def _search_params(self, faiss: Any, k: int, nprobe: int | None, ef_search: int | None) -> Any:
        # Fresh params per call: faiss' IndexIDMap writes into params while searching, so sharing is unsafe.
        sel = None
        if self._tombstones:
            sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.fromiter(self._tombstones, dtype=np.int64)))
        if self.index_type == "hnsw":
            p = faiss.SearchParametersHNSW()
            p.efSearch = max(int(ef_search or self.ef_search), k)
        elif self.index_type == "ivf" and self._trained:
            p = faiss.SearchParametersIVF()
            p.nprobe = min(int(nprobe or self.nprobe or max(1, self.nlist // 8)), self.nlist)
        elif sel is None:
            return None
        else:
            p = faiss.SearchParameters()
        if sel is not None:
            p.sel = sel
            p._keep = sel  # keep the selector (and its batch) alive as long as the params
        return p

    def _gpu(self, faiss: Any) -> Any:
        """Lazy GPU copy of the CPU index, rebuilt after a mutation (the CPU index is the source of truth)."""
        if self._gpu_index is None:
            if self._gpu_res is None:
                self._gpu_res = faiss.StandardGpuResources()
            self._gpu_index = faiss.index_cpu_to_gpu(self._gpu_res, self._gpu_id, self._index)
        return self._gpu_index

    def _result(self, dist: np.ndarray, keys: np.ndarray) -> SearchResult:
        empty = keys < 0
        safe = np.where(empty, 0, keys)
        if self.metric == "cosine":
            scores = 1.0 - dist / 2.0 if self.index_type == "hnsw" else dist
            scores = np.where(empty, -np.inf, scores)
        else:
            scores = np.where(empty, np.inf, dist)
        scores = scores.astype(np.float32)
        if self._id_kind == "str":
            ids = self._keys_ids[safe]
            ids[empty] = None
        else:
            ids = np.where(empty, -1, self._keys_ids[safe] if self._keys_ids.size else 0).astype(np.int64)
        labels = None
        if self._keys_labels is not None:
            labels = self._keys_labels[safe]
            labels[empty] = -1 if self._label_kind == "int" else None
        meta = None
        if self._keys_meta is not None:
            m = self._keys_meta
            meta = [[None if key < 0 else m[key] for key in row] for row in keys.tolist()]
        return SearchResult(ids=ids, scores=scores, labels=labels, metadata=meta)

    # ---- persistence ---------------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        """The constructor's arguments (``index`` is ``index_type``), as saved in the file's header."""
        return {name: getattr(self, "index_type" if name == "index" else name) for name in _CONFIG_FIELDS}

    def save(self, path: str | os.PathLike) -> None:
        """Write the index, ids, labels, metadata and configuration to one file, atomically.

        The file is written under a temporary name in the same folder and moved into place with
        ``os.replace``, so readers see either the old file or the complete new one. It holds a JSON header
        (format version, configuration, section lengths and SHA-256 checksums) followed by the FAISS index and
        the item table; [`load`][slimkit.retrieval.Retriever.load] verifies all of it.

        Args:
            path: Target file (conventionally ``*.slimidx``); its folder is created if needed.
        """
        faiss = _faiss()
        with self._lock.read():
            index_bytes = faiss.serialize_index(self._index).tobytes()
            alive_keys = np.flatnonzero(self._alive)
            state = {
                "next_key": self._next_key,
                "next_auto_id": self._next_auto_id,
                "trained": self._trained,
                "id_kind": self._id_kind,
                "label_kind": self._label_kind,
                "keys": alive_keys.tolist(),
                "ids": self._keys_ids[alive_keys].tolist(),
                "labels": None if self._keys_labels is None else self._keys_labels[alive_keys].tolist(),
                "metadata": None if self._keys_meta is None else [self._keys_meta[i] for i in alive_keys],
                "tombstones": sorted(self._tombstones),
            }
            state_bytes = json.dumps(state, separators=(",", ":")).encode("utf-8")
        write_file(
            path,
            {"faiss_version": faiss.__version__, "config": self._config(), "items": len(self._lookup)},
            {"index": index_bytes, "state": state_bytes},
        )

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto", num_threads: int | None = None) -> Retriever:
        """Load a Retriever written by [`save`][slimkit.retrieval.Retriever.save], verifying its format version,
        lengths and checksums.

        Args:
            path: File written by [`save`][slimkit.retrieval.Retriever.save].
            device: Where to search (as in the constructor); the file itself is device-independent.
            num_threads: FAISS threads (as in the constructor); ``None`` keeps the saved setting.

        Raises:
            FileNotFoundError: No such file.
            ValueError: Not a Retriever file, a newer format version, or a truncated / corrupted file (the
                message says which part failed).
        """
        faiss = _faiss()
        header, sections = read_file(path)
        where = f"{Path(path)}"
        cfg = dict(header["config"])
        dim, metric, index_type = cfg.pop("dim"), cfg.pop("metric"), cfg.pop("index")
        try:
            self = cls(
                dim,
                metric=metric,
                index=index_type,
                device=device,
                **{**cfg, "num_threads": num_threads if num_threads is not None else cfg.get("num_threads")},
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: invalid configuration in the header: {e}") from None
        try:
            self._index = faiss.deserialize_index(np.frombuffer(sections["index"], dtype=np.uint8))
        except RuntimeError as e:
            raise ValueError(f"{where}: the FAISS index section cannot be read ({str(e).splitlines()[0]})") from None
        if self._index.d != self.dim:
            raise ValueError(f"{where}: the FAISS index has dimension {self._index.d}, the header says {self.dim}")
        try:
            self._restore_state(json.loads(sections["state"].decode("utf-8")))
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as e:
            raise ValueError(f"{where}: corrupted item table ({type(e).__name__}: {e})") from None
        self._check_consistent(where)
        return self

    def _restore_state(self, st: dict[str, Any]) -> None:
        n = int(st["next_key"])
        keys = np.asarray(st["keys"], dtype=np.int64)
        self._next_key = n
        self._next_auto_id = int(st["next_auto_id"])
        self._trained = bool(st["trained"])
        self._id_kind = st["id_kind"]
        self._label_kind = st["label_kind"]
        self._alive = np.zeros(n, dtype=bool)
        self._alive[keys] = True
        dtype = self._id_dtype()
        self._keys_ids = np.zeros(n, dtype=dtype) if dtype is np.int64 else np.full(n, None, dtype=object)
        self._keys_ids[keys] = np.asarray(st["ids"], dtype=dtype)
        if st["labels"] is not None:
            lab_dtype, missing = (np.int64, -1) if self._label_kind == "int" else (object, None)
            self._keys_labels = np.full(n, missing, dtype=lab_dtype)
            self._keys_labels[keys] = np.asarray(st["labels"], dtype=lab_dtype)
        if st["metadata"] is not None:
            self._keys_meta = [None] * n
            for key, m in zip(keys.tolist(), st["metadata"], strict=True):
                self._keys_meta[key] = m
        self._lookup = dict(zip(self._keys_ids[keys].tolist(), keys.tolist(), strict=True))
        self._tombstones = set(st["tombstones"])
        if len(self._lookup) != len(keys):
            raise ValueError(f"{len(keys)} items but only {len(self._lookup)} distinct ids")

    def _check_consistent(self, where: str) -> None:
        """The FAISS index holds exactly the live items' keys (plus HNSW tombstones), nothing else."""
        expected = set(np.flatnonzero(self._alive).tolist()) | self._tombstones
        index = self._index
        if index.ntotal != len(expected):
            raise ValueError(
                f"{where}: inconsistent: the FAISS index holds {index.ntotal} vectors but the item table "
                f"{len(expected)} (orphan vectors would return wrong ids); rebuild the index"
            )
        if hasattr(index, "id_map"):
            stored = set(_faiss().vector_to_array(index.id_map).tolist())
            if stored != expected:
                raise ValueError(
                    f"{where}: inconsistent: {len(stored - expected)} vectors of the FAISS index have no "
                    f"item and {len(expected - stored)} items have no vector; rebuild the index"
                )

    # ---- convenience ---------------------------------------------------------------------------------------
    @classmethod
    def from_encoder(
        cls,
        encoder: Any,
        skeletons: Any,
        ids: Sequence[Any] | None = None,
        labels: Sequence[Any] | None = None,
        metadata: Sequence[Any] | None = None,
        *,
        batch_size: int = 64,
        device: str | None = None,
        faiss_device: str = "auto",
        **kwargs: Any,
    ) -> Retriever:
        """Embed skeletons with an encoder and index them, recording the encoder's config in ``info``.

        Args:
            encoder: A [`SLiMEncoder`][slimkit.model.SLiMEncoder].
            skeletons: Anything [`SLiMEncoder.embed`][slimkit.model.SLiMEncoder.embed] accepts.
            ids: Item ids (see [`add`][slimkit.retrieval.Retriever.add]).
            labels: Item labels (see [`add`][slimkit.retrieval.Retriever.add]).
            metadata: Item metadata (see [`add`][slimkit.retrieval.Retriever.add]).
            batch_size: Sequences per forward pass of the encoder.
            device: Torch device that embeds (default: CUDA when available).
            faiss_device: Device of the index, the constructor's ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``,
                ``"cuda:N"``): ``device`` already names the torch one here.
            **kwargs: Passed to the constructor (``metric``, ``index``, ``num_threads``, ``info``...).

        Returns:
            The Retriever, holding one unit-norm embedding per sequence.
        """
        info = dict(kwargs.pop("info", None) or {})
        info.setdefault("encoder_config", encoder.config.to_dict())
        z = encoder.embed(skeletons, batch_size=batch_size, device=device, normalize=True)
        r = cls(int(z.shape[1]), device=faiss_device, info=info, **kwargs)
        r.add(z, ids=ids, labels=labels, metadata=metadata)
        return r
