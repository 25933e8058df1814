"""Nearest-neighbour search over embeddings, on FAISS: [`Retriever`][slimkit.retrieval.Retriever].

```python
r = Retriever(dim=256)                          # cosine, exact ("flat"), GPU when faiss-gpu sees one
r.add(z, ids=names, labels=labels)              # z: (N, 256)
hits = r.search(q, k=5)                         # hits.ids, hits.scores, hits.labels: (Q, 5)
r.save("gallery.slimidx"); r = Retriever.load("gallery.slimidx")
```

FAISS is imported on first use (constructing a [`Retriever`][slimkit.retrieval.Retriever]), never at ``import
slimkit``. Install
exactly one of ``pip install 'slimkit[faiss]'`` (faiss-cpu) or ``pip install 'slimkit[gpu]'`` (faiss-gpu,
Linux x86_64).

Design notes a user should know:

* Items carry an id (int >= 0 or str, one kind per Retriever), an optional label (int or str) and optional
  JSON metadata. Internally every item gets a private int64 key; the FAISS index stores those keys
  (``IndexIDMap2``; a trained IVF stores them natively), so string ids cost nothing in FAISS.
* ``metric="cosine"`` L2-normalises vectors on ``add`` and ``search`` and scores are cosine similarities
  (higher is closer). ``metric="l2"`` scores are *squared* Euclidean distances (lower is closer).
* ``k`` is clamped to the number of items: ``search(q, k)`` returns ``min(k, len(retriever))`` hits per query.
  Empty result slots (an IVF probe that found fewer than ``k``): id ``-1`` (int ids) or ``None`` (str ids),
  label ``-1`` / ``None``, score ``-inf`` (cosine) or ``+inf`` (l2), i.e. the worst score of the metric, so
  rows stay sorted.
* Threads: any number of threads may ``search`` one Retriever at once (FAISS releases the GIL); ``add``,
  ``remove``, ``train`` and ``compact`` take an exclusive lock and wait for running searches. On a GPU,
  searches are serialised.
* Devices: ``device`` of the constructor is FAISS's (``"auto"``: a GPU when faiss-gpu sees one);
  [`Retriever.from_encoder`][slimkit.retrieval.Retriever.from_encoder] takes the torch device that embeds as
  ``device`` and the index's as ``faiss_device``.
* Processes: once FAISS has searched with several threads, a ``fork``-ed child (e.g. a ``DataLoader`` worker)
  that searches with several threads hangs in OpenMP. Importing this module registers an at-fork hook that
  sets FAISS to 1 thread in forked children; do not pass ``num_threads > 1`` there, or use the ``spawn``
  start method.

Modules: ``index`` (the Retriever and its search results), ``backend`` (importing FAISS, CPU or GPU, index
kinds, threads), ``items`` (checks of vectors, ids and labels), ``store`` (the checked ``.slimidx`` file).
"""

from __future__ import annotations

from .backend import GPU_MAX_K
from .index import Retriever, SearchResult
from .store import FORMAT_VERSION

__all__ = ["Retriever", "SearchResult", "FORMAT_VERSION", "GPU_MAX_K"]
