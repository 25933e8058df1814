"""Moment search: where, in a set of long recordings, does something like this clip happen?

[`MomentIndex`][slimkit.moments.MomentIndex] cuts recordings into sliding windows
([`slimkit.windows.embed_windows`][slimkit.windows.embed_windows], one or several window lengths), keeps the window
embeddings in a [`Retriever`][slimkit.retrieval.Retriever], and answers a query clip with the top-``k`` *moments*:
recording id, start and end frame (and seconds, given ``fps``) and score.

```python
idx = MomentIndex(encoder, window=(32, 48), stride=8, fps=30)
idx.add(recordings, ids=names)                  # long (T, V, C) / (M, T, V, C) arrays
moments = idx.search(clip, k=5)[0]              # [Moment(recording, start, end, score, ...), ...]
idx.save("streams.slimidx"); idx = MomentIndex.load("streams.slimidx", encoder)
```

Choices a user should know:

* A query is embedded like any clip (``encoder.embed``: all its frames resampled to the model's view), and
  every window the same way, so a window length near the length of the action looked for works best; give
  several lengths (``window=(32, 64)``) when it varies.
* Overlapping windows of one recording that match the same moment are merged by greedy non-maximum
  suppression over time: windows are taken best score first, and a window whose temporal IoU with an
  already kept moment *of the same recording* exceeds ``iou_threshold`` is dropped. The default ``0.0``
  means two returned moments of one recording never overlap; raise it to let close repeats through.
* The score of a moment is its best window's score (cosine similarity by default, higher is closer).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._utils import check_positive_int
from .retrieval import Retriever
from .windows import embed_windows

if TYPE_CHECKING:  # pragma: no cover
    from .model import SLiMEncoder

__all__ = ["Moment", "MomentIndex", "temporal_iou", "temporal_nms"]

_INFO_KEY = "moment_index"


@dataclass(frozen=True)
class Moment:
    """One search hit: a span of one recording.

    Attributes:
        recording: Id of the recording (as given to [`MomentIndex.add`][slimkit.moments.MomentIndex.add]).
        start: First frame.
        end: Frame after the last one (exclusive).
        score: Similarity of the best window (cosine: higher is closer; ``metric="l2"``: squared distance).
        start_time: ``start / fps`` in seconds, or ``None`` without ``fps``.
        end_time: ``end / fps`` in seconds, or ``None``.
    """

    recording: Any
    start: int
    end: int
    score: float
    start_time: float | None = None
    end_time: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-friendly dict."""
        return {k: getattr(self, k) for k in ("recording", "start", "end", "score", "start_time", "end_time")}


def temporal_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two half-open frame spans ``[start, end)``.

    Args:
        a: ``(start, end)`` of the first span.
        b: ``(start, end)`` of the second span.

    Returns:
        A number in ``[0, 1]`` (``0`` for disjoint or touching spans).
    """
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def temporal_nms(recordings: Sequence[Any], starts: Sequence[int], ends: Sequence[int], order: Sequence[int],
                 iou_threshold: float = 0.0, limit: int | None = None) -> list[int]:
    """Greedy non-maximum suppression over time, per recording.

    Args:
        recordings: Recording id of each candidate.
        starts: Start frame of each candidate.
        ends: End frame (exclusive) of each candidate.
        order: Candidate indices, best first.
        iou_threshold: A candidate is dropped when its temporal IoU with a kept one of the same recording
            exceeds this.
        limit: Stop after this many kept candidates.

    Returns:
        Indices of the kept candidates, best first.
    """
    kept: list[int] = []
    by_rec: dict[Any, list[tuple[int, int]]] = {}
    for i in order:
        span = (int(starts[i]), int(ends[i]))
        spans = by_rec.setdefault(recordings[i], [])
        if any(temporal_iou(span, s) > iou_threshold for s in spans):
            continue
        spans.append(span)
        kept.append(int(i))
        if limit is not None and len(kept) >= limit:
            break
    return kept


def _as_windows(window: Any) -> tuple[int, ...]:
    ws = (window,) if isinstance(window, (int, np.integer)) and not isinstance(window, bool) else window
    try:
        ws = tuple(ws)
    except TypeError:
        raise ValueError(f"window: expected a positive int or a sequence of them, got {window!r}") from None
    if not ws:
        raise ValueError("window: expected at least one window length, got none")
    return tuple(check_positive_int(w, "window") for w in ws)


class MomentIndex:
    """Window embeddings of long recordings in a [`Retriever`][slimkit.retrieval.Retriever], searched for moments.

    Args:
        encoder: Encoder that embeds recordings and query clips; may be ``None`` when only precomputed
            embeddings are added ([`add_windows`][slimkit.moments.MomentIndex.add_windows]) and searched.
        window: Window length in frames, or several lengths (multi-scale).
        stride: Frames between window starts: one int for every length, one per length, or ``None`` for
            ``window // 2`` each.
        fps: Frame rate of the recordings, to report moments in seconds.
        dim: Embedding width; default ``encoder.embed_dim`` (required without an encoder).
        metric: ``"cosine"`` or ``"l2"`` (see [`Retriever`][slimkit.retrieval.Retriever]).
        index: ``"flat"`` (exact), ``"ivf"`` or ``"hnsw"`` (see [`Retriever`][slimkit.retrieval.Retriever]).
        device: FAISS device (``"auto"``, ``"cpu"``, ``"cuda"``).
        num_threads: FAISS threads (see [`Retriever`][slimkit.retrieval.Retriever]).
    """

    def __init__(
        self,
        encoder: SLiMEncoder | None = None,
        window: int | Sequence[int] = 64,
        stride: int | Sequence[int] | None = None,
        fps: float | None = None,
        *,
        dim: int | None = None,
        metric: str = "cosine",
        index: str = "flat",
        device: str = "auto",
        num_threads: int | None = None,
    ) -> None:
        self.encoder = encoder
        self.windows = _as_windows(window)
        if stride is None:
            strides = tuple(max(1, w // 2) for w in self.windows)
        elif isinstance(stride, (int, np.integer)) and not isinstance(stride, bool):
            strides = (check_positive_int(stride, "stride"),) * len(self.windows)
        else:
            strides = tuple(check_positive_int(s, "stride") for s in stride)
            if len(strides) != len(self.windows):
                raise ValueError(f"stride: expected one stride per window length ({len(self.windows)}), got "
                                 f"{len(strides)}")
        self.strides = strides
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0):
            raise ValueError(f"fps: expected a positive number of frames per second, got {fps!r}")
        self.fps = None if fps is None else float(fps)
        if dim is None:
            if encoder is None:
                raise ValueError("dim: give the embedding width when no encoder is given")
            dim = encoder.embed_dim
        elif encoder is not None and dim != encoder.embed_dim:
            raise ValueError(f"dim: the encoder embeds {encoder.embed_dim}-D, got dim={dim}")
        info: dict[str, Any] = {_INFO_KEY: {"window": list(self.windows), "stride": list(self.strides),
                                            "fps": self.fps}}
        if encoder is not None:
            info["encoder_config"] = encoder.config.to_dict()
        self.retriever = Retriever(dim, metric=metric, index=index, device=device, num_threads=num_threads,
                                   info=info)
        self._recordings: list[Any] = []

    # ---- content -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of indexed windows."""
        return len(self.retriever)

    @property
    def recordings(self) -> list[Any]:
        """Ids of the indexed recordings, in the order they were added."""
        return list(self._recordings)

    def __repr__(self) -> str:
        return (f"MomentIndex(recordings={len(self._recordings)}, windows={len(self)}, window={self.windows}, "
                f"stride={self.strides}, fps={self.fps})")

    def _check_new_ids(self, ids: list[Any]) -> None:
        if len(set(ids)) != len(ids):
            raise ValueError("ids: expected unique recording ids, got duplicates")
        clash = set(ids) & set(self._recordings)
        if clash:
            raise ValueError(f"ids: recordings already in the index: {sorted(map(str, clash))[:3]}")
        for v in ids:
            if not isinstance(v, (str, int, np.integer)) or isinstance(v, bool):
                raise TypeError(f"ids: expected str or int recording ids, got {type(v).__name__}")

    def add(
        self,
        recordings: Any,
        ids: Sequence[Any] | None = None,
        *,
        batch_size: int = 64,
        device: Any = None,
        show_progress_bar: bool | None = None,
    ) -> int:
        """Embed the windows of recordings with the encoder and index them.

        Args:
            recordings: One recording ``(T, V, C)`` / ``(M, T, V, C)``, a list of them, or a dataset
                (anything ``SLiMEncoder.embed`` accepts).
            ids: One id (str or int) per recording; default the dataset's ``names``, else running numbers.
            batch_size: Windows per forward pass.
            device: Torch device for the encoder.
            show_progress_bar: Progress bar over the recordings.

        Returns:
            The number of windows added.
        """
        if self.encoder is None:
            raise ValueError("encoder: this MomentIndex has no encoder; pass one, or add embeddings with "
                             "add_windows")
        n_rec = _count(recordings)
        if ids is None:
            names = None if isinstance(recordings, np.ndarray) else getattr(recordings, "names", None)
            start = len(self._recordings)
            ids = list(names) if names is not None else list(range(start, start + n_rec))
        ids = [v.item() if isinstance(v, np.generic) else v for v in ids]
        if len(ids) != n_rec:
            raise ValueError(f"ids: expected one id per recording ({n_rec}), got {len(ids)}")
        self._check_new_ids(ids)
        parts = [
            embed_windows(self.encoder, recordings, w, s, self.fps, batch_size=batch_size, device=device,
                          show_progress_bar=show_progress_bar)
            for w, s in zip(self.windows, self.strides, strict=True)
        ]
        emb = np.concatenate([p.embeddings for p in parts])
        seq = np.concatenate([p.sequence for p in parts])
        rec = [ids[int(i)] for i in seq]
        self._add(emb, rec, np.concatenate([p.start for p in parts]), np.concatenate([p.end for p in parts]), ids)
        return int(len(emb))

    def add_windows(self, embeddings: Any, recordings: Sequence[Any], starts: Sequence[int],
                    ends: Sequence[int]) -> int:
        """Index precomputed window embeddings (e.g. from ``slimkit embed --window``).

        Args:
            embeddings: ``(W, D)`` window embeddings.
            recordings: ``W`` recording ids (str or int), one per window.
            starts: ``W`` start frames.
            ends: ``W`` end frames (exclusive), each greater than its start.

        Returns:
            The number of windows added.
        """
        rec = [v.item() if isinstance(v, np.generic) else v for v in list(recordings)]
        known = set(self._recordings)
        new = list(dict.fromkeys(r for r in rec if r not in known))
        for v in new:
            if not isinstance(v, (str, int)) or isinstance(v, bool):
                raise TypeError(f"recordings: expected str or int ids, got {type(v).__name__}")
        return self._add(embeddings, rec, starts, ends, new)

    def _add(self, embeddings: Any, rec: list[Any], starts: Any, ends: Any, new: list[Any]) -> int:
        emb = np.asarray(embeddings)
        if emb.ndim != 2 or emb.shape[0] == 0:
            raise ValueError(f"embeddings: expected a (W, D) array with W >= 1, got shape {emb.shape}")
        n = emb.shape[0]
        st = np.asarray(starts)
        en = np.asarray(ends)
        for name, v in (("recordings", rec), ("starts", st), ("ends", en)):
            if len(v) != n:
                raise ValueError(f"{name}: expected {n} entries (one per embedding row), got {len(v)}")
        if (not np.issubdtype(st.dtype, np.integer) or not np.issubdtype(en.dtype, np.integer)):
            raise TypeError(f"starts, ends: expected int frame numbers, got {st.dtype} and {en.dtype}")
        if ((st < 0).any() or (en <= st).any()):
            raise ValueError("starts, ends: expected 0 <= start < end for every window")
        meta = [[r, int(a), int(b)] for r, a, b in zip(rec, st.tolist(), en.tolist(), strict=True)]
        self.retriever.add(emb, metadata=meta)
        self._recordings.extend(new)
        return n

    # ---- search ----------------------------------------------------------------------------------------------
    def search(
        self,
        queries: Any,
        k: int = 5,
        *,
        iou_threshold: float = 0.0,
        candidates: int | None = None,
        batch_size: int = 64,
        device: Any = None,
    ) -> list[list[Moment]]:
        """Top-``k`` moments for each query clip.

        Args:
            queries: Query clips (anything ``SLiMEncoder.embed`` accepts: one clip ``(T, V, C)``, a list...),
                or precomputed query embeddings: a 2-D ``(Q, D)`` or 1-D ``(D,)`` array.
            k: Moments per query.
            iou_threshold: Non-maximum suppression threshold on temporal IoU within a recording (see the
                module notes); in ``[0, 1)``.
            candidates: Windows fetched from the index before suppression; default ``max(20 * k, 100)``,
                grown until ``k`` moments survive or every window was seen.
            batch_size: Clips per forward pass when embedding queries.
            device: Torch device for the encoder.

        Returns:
            One list per query of up to ``k`` [`Moment`][slimkit.moments.Moment], best first.
        """
        k = check_positive_int(k, "k")
        if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float)) or not (
            0.0 <= iou_threshold < 1.0
        ):
            raise ValueError(f"iou_threshold: expected a number in [0, 1), got {iou_threshold!r}")
        if len(self) == 0:
            raise ValueError("search: the MomentIndex is empty; add recordings first")
        q = self._embed_queries(queries, batch_size, device)
        n = len(self)
        cand = min(n, check_positive_int(candidates, "candidates") if candidates is not None else max(20 * k, 100))
        todo = list(range(len(q)))
        out: list[list[Moment] | None] = [None] * len(q)
        while todo:
            res = self.retriever.search(q[todo], k=cand)
            retry = []
            for row, qi in enumerate(todo):
                valid = [j for j in range(cand) if res.metadata[row][j] is not None]
                meta = [res.metadata[row][j] for j in valid]
                scores = res.scores[row, valid]
                kept = temporal_nms([m[0] for m in meta], [m[1] for m in meta], [m[2] for m in meta],
                                    range(len(meta)), float(iou_threshold), limit=k)
                if len(kept) < k and cand < n:
                    retry.append(qi)
                    continue
                out[qi] = [self._moment(meta[i], float(scores[i])) for i in kept]
            todo = retry
            cand = min(n, cand * 4)
        return [m or [] for m in out]

    def _moment(self, meta: list[Any], score: float) -> Moment:
        rec, start, end = meta
        if self.fps is None:
            return Moment(rec, int(start), int(end), score)
        return Moment(rec, int(start), int(end), score, start / self.fps, end / self.fps)

    def _embed_queries(self, queries: Any, batch_size: int, device: Any) -> np.ndarray:
        if isinstance(queries, np.ndarray) and queries.ndim <= 2 or (
            hasattr(queries, "ndim") and not isinstance(queries, np.ndarray) and queries.ndim <= 2
        ):
            q = np.asarray(queries.detach().cpu() if hasattr(queries, "detach") else queries, dtype=np.float32)
            return q[None] if q.ndim == 1 else q
        if self.encoder is None:
            raise ValueError("queries: this MomentIndex has no encoder, so queries must be embeddings (Q, D)")
        return np.asarray(self.encoder.embed(queries, batch_size=batch_size, device=device, normalize=True))

    # ---- persistence -----------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the index (a [`Retriever`][slimkit.retrieval.Retriever] file whose ``info`` holds the window settings).

        Args:
            path: Target file, e.g. ``streams.slimidx`` (written atomically).
        """
        self.retriever.info[_INFO_KEY]["recordings"] = list(self._recordings)
        self.retriever.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike, encoder: SLiMEncoder | None = None, device: str = "auto",
             num_threads: int | None = None) -> MomentIndex:
        """Load an index from [`save`][slimkit.moments.MomentIndex.save] (or ``slimkit index`` on window embeddings).

        Args:
            path: The saved file.
            encoder: Encoder to embed query clips (``None``: only embedding queries).
            device: FAISS device.
            num_threads: FAISS threads.

        Returns:
            The MomentIndex.
        """
        r = Retriever.load(path, device=device, num_threads=num_threads)
        settings = r.info.get(_INFO_KEY)
        if not isinstance(settings, dict):
            raise ValueError(f"{path}: a Retriever file without moment-index settings (window, stride); "
                             "build it with MomentIndex or `slimkit index` on `slimkit embed --window` output")
        if encoder is not None and encoder.embed_dim != r.dim:
            raise ValueError(f"encoder: embeds {encoder.embed_dim}-D but {path} holds {r.dim}-D windows")
        self = cls.__new__(cls)
        self.encoder = encoder
        self.windows = tuple(int(w) for w in settings["window"])
        self.strides = tuple(int(s) for s in settings["stride"])
        self.fps = settings.get("fps")
        self.retriever = r
        recs = settings.get("recordings")
        if recs is None:
            recs = list(dict.fromkeys(m[0] for m in (r._keys_meta or []) if m is not None))
        self._recordings = list(recs)
        return self


def _count(x: Any) -> int:
    if isinstance(x, np.ndarray) or hasattr(x, "shape"):
        return 1 if len(x.shape) <= 4 else int(x.shape[0])
    return len(x)
