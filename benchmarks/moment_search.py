"""Moment search on real data: find where a held-out clip's action happens in long NW-UCLA streams.

Protocol (fixed, printed with the figures):

* Streams: the NW-UCLA cross-view *test* sequences (camera view 3, 464 clips) are grouped by action and
  dealt into streams so that each stream holds one clip of each of the 10 actions, in a seeded random order,
  concatenated in time into one long recording (about 400 frames). The ground truth of a stream is where each
  clip lies in it.
* Queries: ``--queries`` clips drawn (seeded, stratified by action) from the *train* views 1 and 2: never in a
  stream, filmed from another camera.
* Index: :class:`slimkit.MomentIndex` with windows of ``--windows`` frames every ``--stride`` frames over all
  streams; the query is embedded whole; moments are merged by temporal NMS (IoU threshold 0).
* A query hits when its top moment overlaps a segment of the query's action; ``hit@1_iou50`` asks for
  temporal IoU >= 0.5 with it; ``hit@5_iou50``: any of the top 5 does. ``chance`` is the same rate for a
  window drawn uniformly from the index (exact expectation).
* Encoders: ``--model`` (default the shipped ``slimkit/slim-kinect-tiny``, pretrained without labels on all
  NW-UCLA sequences, camera 3 included, plus Kinder-Gator, HDM05 and Bandai-Namco: it has seen the stream
  clips and the queries, without their labels) and a randomly initialised encoder of the same config (seed 0)
  as the floor; where the model is mean-pooled and slimkit has time-ordered pooling, also a random encoder
  with ``pooling="time"``.

Run:  python benchmarks/moment_search.py [--queries 200 --windows 24 40 64 --stride 8 --threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines.env import emit, machine_info  # noqa: E402
from slimkit import SLiMEncoder  # noqa: E402
from slimkit.data import load  # noqa: E402
from slimkit.moments import MomentIndex, temporal_iou  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nw-ucla" / "all_sqe"


def build_streams(ds, seed: int) -> tuple[list[np.ndarray], list[list[tuple[int, int, int]]]]:
    """Streams of one clip per action; ground truth ``(label, start, end)`` per segment."""
    rng = np.random.default_rng(seed)
    test = ds.split["test"]
    by_class = {c: rng.permutation(test[ds.labels[test] == c]) for c in np.unique(ds.labels[test])}
    n_streams = min(len(v) for v in by_class.values())
    streams, truth = [], []
    for s in range(n_streams):
        order = rng.permutation(sorted(by_class))
        parts, segs, t = [], [], 0
        for c in order:
            seq = ds[int(by_class[c][s])][0]  # (1, T, 20, 3)
            parts.append(seq)
            segs.append((int(c), t, t + seq.shape[1]))
            t += seq.shape[1]
        streams.append(np.concatenate(parts, axis=1))
        truth.append(segs)
    return streams, truth


def pick_queries(ds, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    train = ds.split["train"]
    classes = np.unique(ds.labels[train])
    per = int(np.ceil(n / len(classes)))
    picks = [rng.choice(train[ds.labels[train] == c], size=per, replace=False) for c in classes]
    return np.sort(rng.permutation(np.concatenate(picks))[:n])


def best_iou(label: int, rec: int, start: int, end: int, truth) -> float:
    return max((temporal_iou((start, end), (a, b)) for c, a, b in truth[rec] if c == label), default=0.0)


def evaluate(encoder, streams, truth, queries, q_labels, windows, stride, k: int = 5) -> dict:
    t0 = time.perf_counter()
    idx = MomentIndex(encoder, window=tuple(windows), stride=stride, num_threads=1)
    idx.add(streams, ids=list(range(len(streams))), batch_size=256)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = idx.search(queries, k=k)
    t_search = time.perf_counter() - t0
    any1 = iou1 = iou5 = 0
    for moments, lab in zip(res, q_labels, strict=True):
        ious = [best_iou(int(lab), m.recording, m.start, m.end, truth) for m in moments]
        any1 += ious[0] > 0
        iou1 += ious[0] >= 0.5
        iou5 += any(v >= 0.5 for v in ious[:k])
    # chance: a window drawn uniformly from the index, for each query's label
    meta = [m for m in idx.retriever._keys_meta if m is not None]
    chance_any = chance_iou = 0.0
    for lab in np.unique(q_labels):
        ious = np.array([best_iou(int(lab), r, a, b, truth) for r, a, b in meta])
        w = float(np.mean(q_labels == lab))
        chance_any += w * float(np.mean(ious > 0))
        chance_iou += w * float(np.mean(ious >= 0.5))
    n = len(q_labels)
    return {
        "hit@1_overlap": any1 / n,
        "hit@1_iou50": iou1 / n,
        f"hit@{k}_iou50": iou5 / n,
        "chance@1_overlap": chance_any,
        "chance@1_iou50": chance_iou,
        "windows_indexed": len(idx),
        "index_seconds": round(t_index, 2),
        "search_seconds": round(t_search, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA), help="NW-UCLA all_sqe folder")
    ap.add_argument("--model", default="slimkit/slim-kinect-tiny", help="encoder folder or Hub id")
    ap.add_argument("--queries", type=int, default=200, help="query clips from views 1+2")
    ap.add_argument("--windows", type=int, nargs="+", default=[24, 40, 64], help="window lengths (frames)")
    ap.add_argument("--stride", type=int, default=8, help="window stride (frames)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the streams and the queries")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not Path(args.data).is_dir():
        raise SystemExit(f"--data: {args.data}: no such folder (NW-UCLA all_sqe)")
    ds = load(args.data)
    streams, truth = build_streams(ds, args.seed)
    qi = pick_queries(ds, args.queries, args.seed)
    queries = [ds[int(i)][0] for i in qi]
    q_labels = ds.labels[qi]
    trained = SLiMEncoder.from_pretrained(args.model)
    torch.manual_seed(0)
    random_init = SLiMEncoder(trained.config).eval()
    protocol = (
        f"NW-UCLA: {len(streams)} streams of 10 view-3 clips (one per action, seeded order, "
        f"{int(np.mean([s.shape[1] for s in streams]))} frames on average); {len(qi)} query clips from views "
        f"1+2 (stratified, seed {args.seed}); windows {args.windows} stride {args.stride}, NMS IoU 0; hit = top "
        "moment overlaps (or IoU >= 0.5 with) a segment of the query's action"
    )
    encoders = [(args.model, trained), ("random init (seed 0)", random_init)]
    if getattr(trained.config, "pooling", None) == "mean":  # slimkit >= time-ordered pooling: also that floor
        torch.manual_seed(0)
        encoders.append(("random init (seed 0), pooling='time'",
                         SLiMEncoder(trained.config.replace(pooling="time")).eval()))
    for name, enc in encoders:
        out = evaluate(enc, streams, truth, queries, q_labels, args.windows, args.stride)
        emit("moment_search", encoder=name, **out, protocol=protocol, machine=machine_info("cpu"))


if __name__ == "__main__":
    main()
