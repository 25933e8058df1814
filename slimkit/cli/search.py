"""``slimkit search``: the nearest neighbours of query embeddings (or of skeleton data embedded on the fly) in a
saved index; the top moments for a moment index."""

from __future__ import annotations

import argparse
import difflib
from typing import Any

import numpy as np

from slimkit import MomentIndex, Retriever

from ._common import (
    add_batch_size,
    add_command,
    add_device,
    add_input_format,
    add_layout,
    add_precision,
    add_quiet,
    add_trust_pickle,
    check_device,
    check_exists,
    embed_rows,
    fit_layout,
    load_data,
    load_model,
    plain,
    prepared_data,
    warn,
)
from ._files import read_embeddings, write_json_output


def add_parser(sub: Any) -> None:
    p = add_command(
        sub, "search",
        help="find the nearest neighbours of query sequences",
        description="Search a saved index. Queries are embeddings (.npy from 'slimkit embed') or a data file "
        "embedded on the fly with --model. Prints the top-k hits; --output writes them as JSON.",
        examples="  slimkit search ucla.slimidx --queries ucla.npy --rows 0 1 2 -k 5\n"
        "  slimkit search ucla.slimidx --queries ucla.npy --ids a01_s01_e00_v01 --exclude-self -o hits.json\n"
        "  slimkit search ucla.slimidx --queries new_clips/ --layout kinect20 -m runs/ucla/encoder\n"
        "  slimkit search gallery.slimidx --queries q.npy -k 10 -o hits.json --quiet\n",
    )
    p.add_argument("index", help="index saved by 'slimkit index'")
    p.add_argument("--queries", required=True, help="query embeddings (.npy) or a data file (with --model)")
    p.add_argument("-k", type=int, default=5, help="neighbours per query")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--rows", type=int, nargs="+", help="only these query rows (0-based positions)")
    which.add_argument(
        "--ids", dest="query_ids", nargs="+", metavar="ID",
        help="only the queries with these ids (from the queries' sidecar, e.g. sequence names)",
    )
    p.add_argument(
        "--exclude-self",
        action="store_true",
        help="leave a query's own id out of its hits (when the queries are also in the index)",
    )
    p.add_argument("--output", "-o", help="write the results as JSON")
    p.add_argument(
        "--iou-threshold", type=float, default=0.0,
        help="moment indexes: drop a window overlapping a better moment of the same recording by more than "
        "this temporal IoU",
    )
    p.add_argument("--model", "-m", help="encoder for queries given as data")
    add_layout(p, "joint layout of query data when the file does not say")
    add_input_format(p, "axis order of a .npy array of queries, e.g. NTVC")
    add_batch_size(p)
    add_device(p, "torch device for --model (default: CUDA when available)")
    add_precision(p)
    add_quiet(p, "no progress bars; no printout when -o is given")
    add_trust_pickle(p)
    p.set_defaults(func=run)


def _queries(args: argparse.Namespace, moments: bool) -> tuple[Any, list[Any] | None, list[Any] | None,
                                                                 list[bool] | None]:
    """``(embeddings, ids, labels, valid)`` of the queries: read from a ``.npy`` or embedded with ``--model``.

    For a moment index, query data are embedded as they are (no screening: there are no placeholder rows)."""
    if args.model is None:
        if not args.queries.endswith(".npy"):
            raise ValueError("--queries is not a .npy of embeddings: pass --model to embed skeleton data")
        q, info = read_embeddings(args.queries, "--queries")
        return q, info.get("ids"), info.get("labels"), info.get("valid")
    check_exists(args.queries, "--queries")
    encoder = load_model(args.model)
    if moments:
        ds = fit_layout(load_data(args.queries, args.layout, name="--queries", input_format=args.input_format,
                                  trust_pickle=args.trust_pickle), encoder)
        q = encoder.embed(ds, batch_size=args.batch_size, device=args.device, show_progress_bar=not args.quiet,
                          precision=args.precision)
        return q, ds.names, None, None
    ds = prepared_data(args, args.queries, encoder, None, "--queries", args.input_format)
    q, mask = embed_rows(args, encoder, ds, args.queries, "--queries")
    return q, list(ds.names), plain(ds.labels), mask.tolist()


def _check_dim(q: Any, retriever: Any) -> None:
    if q.shape[1] != retriever.dim:
        raise ValueError(f"--queries: embeddings of dimension {q.shape[1]}, but the index holds dimension "
                         f"{retriever.dim} (embed the queries with the index's model)")


def _check_rows(rows: list[int], n: int, hint: str = "") -> None:
    bad = [r for r in rows if not -n <= r < n]
    if bad:
        raise ValueError(f"--rows: {bad} out of range for {n} queries{hint}")


def _label_name(label: Any, classes: list[str] | None) -> str:
    if classes and isinstance(label, int) and 0 <= label < len(classes):
        return f"{label} ({classes[label]})"
    return str(label)


def run(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise ValueError(f"-k: expected a positive number of neighbours, got {args.k}")
    check_device(args.device)
    check_exists(args.index, "index")
    retriever = Retriever.load(args.index)
    if "moment_index" in retriever.info:
        return _search_moments(args, retriever)
    q, q_ids, q_labels, q_valid = _queries(args, moments=False)
    _check_dim(q, retriever)
    if args.query_ids is not None:
        if not q_ids:
            raise ValueError(f"--ids: {args.queries} has no ids (no .json sidecar beside it); use --rows")
        rows = _rows_of_ids(args, q_ids)
    else:
        rows = list(range(len(q))) if args.rows is None else args.rows
    _check_rows(rows, len(q), " (rows are 0-based; use --ids to query by id)")
    if q_valid is not None:
        skip = [r for r in rows if not q_valid[r]]
        for r in skip:
            warn(f"query {q_ids[r] if q_ids else r}: no usable joint (placeholder row), not searched")
        rows = [r for r in rows if q_valid[r]]
    extra = 1 if args.exclude_self else 0
    res = retriever.search(np.ascontiguousarray(q[rows]), k=min(args.k + extra, max(len(retriever), 1)))
    classes = retriever.info.get("classes")

    def class_name(label: Any) -> str | None:
        if classes and isinstance(label, int) and 0 <= label < len(classes):
            return classes[label]
        return None

    out = []
    for i, r in enumerate(rows):
        qid = plain([q_ids[r]])[0] if q_ids else r
        hits = []
        for j in range(res.ids.shape[1]):
            if res.ids[i, j] is None or (not isinstance(res.ids[i, j], str) and res.ids[i, j] < 0):
                continue  # empty slot: fewer items than k
            hid = plain([res.ids[i, j]])[0]
            if args.exclude_self and q_ids and hid == qid:
                continue
            label = None if res.labels is None else plain([res.labels[i, j]])[0]
            hits.append({"id": hid, "score": float(res.scores[i, j]), "label": label, "class": class_name(label)})
        hits = hits[: args.k]
        item: dict[str, Any] = {"query": qid, "row": r}
        if q_labels is not None and q_labels[r] != -1:
            item.update(label=q_labels[r], **{"class": class_name(q_labels[r])})
        item["hits"] = hits
        out.append(item)
    if args.output:
        write_json_output(args.output, out, f"{len(out)} queries x top-{args.k}")
    if not (args.quiet and args.output):
        for item in out:
            lab = "" if item.get("label") is None else f"  label {_label_name(item['label'], classes)}"
            print(f"query {item['query']}:{lab}")
            for rank, h in enumerate(item["hits"], 1):
                lab = "" if h["label"] is None else f"  label {_label_name(h['label'], classes)}"
                print(f"  {rank:>2}. {h['id']}  score {h['score']:.4f}{lab}")
    return 0


def _rows_of_ids(args: argparse.Namespace, q_ids: list[Any]) -> list[int]:
    """The query rows of ``--ids``, or an error naming the unknown ids and the closest known ones."""
    pos = {str(v): i for i, v in enumerate(q_ids)}
    unknown = [v for v in args.query_ids if v not in pos]
    if unknown:
        close = sorted({m for u in unknown for m in difflib.get_close_matches(u, list(pos), n=3)})
        raise ValueError(
            f"--ids: {unknown} not among the {len(q_ids)} query ids of {args.queries}"
            + (f"; close: {close}" if close else f"; e.g. {list(pos)[:3]}")
        )
    return [pos[v] for v in args.query_ids]


def _search_moments(args: argparse.Namespace, retriever: Any) -> int:
    """Search a moment index: top-k moments (recording, start, end, score) per query, after temporal NMS."""
    idx = MomentIndex.load(args.index)
    q, q_ids, _, _ = _queries(args, moments=True)
    _check_dim(q, retriever)
    rows = list(range(len(q))) if args.rows is None else args.rows
    _check_rows(rows, len(q))
    res = idx.search(np.ascontiguousarray(q[rows]), k=args.k, iou_threshold=args.iou_threshold)
    out = [{"query": q_ids[r] if q_ids else r, "moments": [m.to_dict() for m in moments]}
           for r, moments in zip(rows, res, strict=True)]
    if args.output:
        write_json_output(args.output, out, f"{len(out)} queries x top-{args.k} moments")
    if not (args.quiet and args.output):
        for item in out:
            print(f"query {item['query']}:")
            for rank, m in enumerate(item["moments"], 1):
                when = "" if m["start_time"] is None else f" ({m['start_time']:.2f}-{m['end_time']:.2f} s)"
                print(f"  {rank:>2}. {m['recording']}  frames {m['start']}-{m['end']}{when}  score "
                      f"{m['score']:.4f}")
    return 0
