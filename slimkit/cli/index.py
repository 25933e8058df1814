"""``slimkit index``: put embeddings into a saved [`Retriever`][slimkit.retrieval.Retriever] (or, for window
embeddings, a [`MomentIndex`][slimkit.moments.MomentIndex])."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from slimkit import MomentIndex, Retriever

from ._common import add_command, warn
from ._files import read_embeddings, read_list


def add_parser(sub: Any) -> None:
    p = add_command(
        sub, "index",
        help="build a saved retrieval index from embeddings",
        description="Put embeddings (from 'slimkit embed') into a Retriever and save it. Ids and labels come "
        "from the embeddings' .json sidecar unless --ids / --labels give them.",
        examples="  slimkit index ucla.npy -o ucla.slimidx\n"
        "  slimkit index gallery.npy --labels gallery_labels.txt --index hnsw -o gallery.slimidx\n",
    )
    p.add_argument("embeddings", help=".npy file of embeddings (N, D)")
    p.add_argument("--output", "-o", required=True, help="index file to write (e.g. gallery.slimidx)")
    p.add_argument("--ids", help="ids, one per line (.txt) or a .npy vector")
    p.add_argument("--labels", help="labels, one per line (.txt) or a .npy vector")
    p.add_argument(
        "--metric",
        default="cosine",
        choices=["cosine", "l2"],
        help="cosine similarity (higher is closer) or squared L2 distance (lower is closer)",
    )
    p.add_argument(
        "--index",
        default="flat",
        choices=["flat", "ivf", "hnsw"],
        help="flat: exact; ivf / hnsw: approximate, for large galleries",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (GPU indexes need faiss-gpu)")
    p.set_defaults(func=run)


def _notes(info: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """What the sidecar says about the embeddings' origin, for the index's ``info``."""
    return {k: info[k] for k in keys if info.get(k) is not None}


def run(args: argparse.Namespace) -> int:
    emb, info = read_embeddings(args.embeddings)
    if info.get("windows") is not None:
        return _index_windows(args, emb, info)
    ids = read_list(args.ids, len(emb), "--ids") or info.get("ids")
    labels = read_list(args.labels, len(emb), "--labels") or info.get("labels")
    if labels is not None and all(v == -1 for v in labels):
        labels = None  # unlabelled data
    valid = info.get("valid")
    if valid is not None and not all(valid):  # zero placeholders of sequences without a usable joint
        keep = [i for i, v in enumerate(valid) if v]
        warn(f"{args.embeddings}: leaving out {len(valid) - len(keep)} placeholder rows (valid=false)")
        emb = emb[keep]
        ids = None if ids is None else [ids[i] for i in keep]
        labels = None if labels is None else [labels[i] for i in keep]
    retriever = Retriever(dim=int(emb.shape[1]), metric=args.metric, index=args.index, device=args.device,
                          info=_notes(info, ("model", "data", "layout", "classes")))
    retriever.add(emb, ids=ids, labels=labels)
    retriever.save(args.output)
    print(f"indexed {len(retriever)} embeddings ({args.index}, {args.metric}) into {args.output}")
    return 0


def _index_windows(args: argparse.Namespace, emb: Any, info: dict[str, Any]) -> int:
    """Window embeddings (``slimkit embed --window``) go into a MomentIndex file."""
    if args.ids or args.labels:
        raise ValueError("--ids / --labels: window embeddings take the recording ids from their sidecar")
    windows = info["windows"]
    if len(windows) != len(emb):
        raise ValueError(f"{args.embeddings}: the sidecar lists {len(windows)} windows for {len(emb)} rows")
    idx = MomentIndex(None, window=int(info["window"]), stride=int(info["stride"]), fps=info.get("fps"),
                      dim=int(emb.shape[1]), metric=args.metric, index=args.index, device=args.device)
    idx.retriever.info.update(_notes(info, ("model", "data", "layout")))
    idx.add_windows(emb, [w[0] for w in windows], np.array([w[1] for w in windows], dtype=np.int64),
                    np.array([w[2] for w in windows], dtype=np.int64))
    idx.save(args.output)
    print(f"indexed {len(idx)} windows of {len(idx.recordings)} recordings as a moment index into "
          f"{args.output} ('slimkit search' answers with moments: recording, start, end)")
    return 0
