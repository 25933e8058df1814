"""``slimkit embed``: one embedding per sequence (or per sliding window) into a ``.npy`` with a ``.json`` sidecar."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ._common import (
    add_command,
    add_input_format,
    add_model_options,
    add_precision,
    add_trust_pickle,
    check_device,
    check_exists,
    embed_rows,
    load_model,
    prepared_data,
    say,
)
from ._files import sidecar, write_embeddings


def add_parser(sub: Any) -> None:
    p = add_command(
        sub, "embed",
        help="embed sequences into an (N, D) .npy file",
        description="Embed every sequence of a data file with an encoder. Writes OUTPUT (.npy, float32 (N, D), "
        "L2-normalised) and OUTPUT with a .json suffix holding the ids (sequence names) and labels.",
        examples="  slimkit embed data/nw-ucla/all_sqe -m runs/ucla/encoder -o ucla.npy\n"
        "  slimkit embed poses.npy --input-format NTVC --layout coco17 -m runs/x/encoder -o poses_emb.npy\n"
        "  slimkit embed ntu60.pkl --split xsub_val -m org/slim-ntu60-base -o val.npy --device cuda\n"
        "  slimkit embed recordings/ -m runs/x/encoder --window 64 --stride 16 --fps 30 -o windows.npy\n",
    )
    p.add_argument("data", help="data file or folder")
    p.add_argument("--output", "-o", required=True, help="output .npy file")
    p.add_argument("--split", help="named split of the data file, e.g. xsub_val")
    p.add_argument("--no-normalize", action="store_true", help="do not L2-normalise the embeddings")
    p.add_argument(
        "--window", type=int, help="embed sliding windows of W frames of each (long) recording: one row per "
        "(id, start, end), listed in the .json sidecar"
    )
    p.add_argument("--stride", type=int, help="frames between window starts (default: W // 2)")
    p.add_argument("--fps", type=float, help="frame rate, to write window times in seconds")
    add_input_format(p)
    add_precision(p)
    add_model_options(p)
    add_trust_pickle(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_device(args.device)
    check_exists(args.data, "data")
    out = Path(args.output)
    if out.suffix != ".npy":
        raise ValueError(f"--output: expected a .npy file name, got {args.output}")
    if args.window is None and (args.stride is not None or args.fps is not None):
        raise ValueError("--stride and --fps apply to windows: add --window W")
    say(args, f"loading the model {args.model} ...")
    encoder = load_model(args.model)
    say(args, f"reading {args.data} ...")
    ds = prepared_data(args, args.data, encoder, args.split, "data", args.input_format)
    meta = {"model": args.model, "data": str(args.data), "split": args.split, "normalized": not args.no_normalize}
    if args.window is not None:
        return _embed_windows(args, encoder, ds, out, meta)
    emb, mask = embed_rows(args, encoder, ds, args.data, "data", normalize=not args.no_normalize)
    skipped = [ds.names[i] for i in (~mask).nonzero()[0]]
    write_embeddings(
        out,
        emb,
        ds,
        {
            **meta,
            "valid": mask.tolist(),
            "skipped": skipped,
            "placeholder": "rows with valid=false are all-zero vectors: their sequence has no usable joint",
            "splits": {k: v.tolist() for k, v in ds.split.items()},
        },
    )
    print(
        f"wrote {emb.shape[0]} embeddings of dimension {emb.shape[1]} to {out} "
        f"(ids and labels in {sidecar(out)})"
        + (f"; {len(skipped)} sequences without a usable joint are zero rows, valid=false" if skipped else "")
    )
    return 0


def _embed_windows(args: argparse.Namespace, encoder: Any, ds: Any, out: Path, meta: dict[str, Any]) -> int:
    """``slimkit embed --window``: one row per (recording, start, end); the sidecar lists the windows."""
    res = encoder.embed_windows(
        ds, window=args.window, stride=args.stride, fps=args.fps, batch_size=args.batch_size,
        device=args.device, normalize=not args.no_normalize, show_progress_bar=not args.quiet,
        precision=args.precision,
    )
    names = list(ds.names)
    rec = [names[i] for i in res.sequence]
    windows = [[r, a, b] for r, a, b in zip(rec, res.start.tolist(), res.end.tolist(), strict=True)]
    times = {}
    if res.fps is not None:
        times["times"] = [[float(a), float(b)] for a, b in zip(res.start_time, res.end_time, strict=True)]
    write_embeddings(
        out, res.embeddings, ds, {**meta, "window": res.window, "stride": res.stride, "fps": res.fps},
        ids=[f"{r}@{a}-{b}" for r, a, b in windows], labels=np.asarray(ds.labels)[res.sequence],
        windows=windows, **times,
    )
    print(
        f"wrote {len(res)} window embeddings ({len(set(res.sequence.tolist()))} recordings, window "
        f"{res.window}, stride {res.stride}) of dimension {res.embeddings.shape[1]} to {out} "
        f"(recording, start, end of each row in {sidecar(out)})"
    )
    return 0
