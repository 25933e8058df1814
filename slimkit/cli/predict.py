"""``slimkit predict``: the class of every sequence with a saved classifier folder, as text, JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from slimkit import SLiMClassifier

from ._common import (
    add_batch_size,
    add_command,
    add_device,
    add_input_format,
    add_layout,
    add_quiet,
    add_trust_pickle,
    check_exists,
    fit_layout,
    load_data,
)
from ._files import write_output


def add_parser(sub: Any) -> None:
    p = add_command(
        sub, "predict",
        help="classify sequences with a saved classifier",
        description="Predict the class of every sequence with a classifier folder (saved by "
        "'slimkit evaluate --linear-probe --save-classifier' or SLiMClassifier.save_pretrained). Prints "
        "id, predicted class and its probability per line; --output writes .json (with the top-k "
        "classes) or .csv. When the data carry labels, the accuracy is printed too.",
        examples="  slimkit predict data/nw-ucla/all_sqe --split test -m ucla-classifier\n"
        "  slimkit predict clips/ --layout kinect20 -m ucla-classifier --top-k 3 -o predictions.json\n",
    )
    p.add_argument("data", help="data file or folder")
    p.add_argument("--split", help="named split of the data file, e.g. test")
    p.add_argument("--top-k", type=int, default=1, help="also list the next most probable classes")
    add_trust_pickle(p)
    p.add_argument("--output", "-o", help="write the predictions (.json or .csv)")
    add_input_format(p)
    p.add_argument(
        "--model", "-m", required=True, help="classifier folder or Hub repo id (SLiMClassifier.save_pretrained)"
    )
    add_layout(p)
    add_batch_size(p)
    add_device(p)
    add_quiet(p, "no printout when -o is given")
    p.set_defaults(func=run)


def _csv(rows: list[dict[str, Any]], labelled: bool) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "prediction", "probability"] + (["label"] if labelled else []))
    for r in rows:
        w.writerow([r["id"], r["prediction"], f"{r['probability']:.6f}"] + ([r["label"]] if labelled else []))
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    check_exists(args.data, "data")
    if args.top_k < 1:
        raise ValueError(f"--top-k: expected a positive number of classes, got {args.top_k}")
    if args.output and Path(args.output).suffix not in (".json", ".csv"):
        raise ValueError(f"--output: expected a .json or .csv file name, got {args.output}")
    clf = SLiMClassifier.from_pretrained(args.model)
    ds = fit_layout(load_data(args.data, args.layout, args.split, input_format=args.input_format,
                              trust_pickle=args.trust_pickle), clf.encoder)
    pred = clf.predict(ds, batch_size=args.batch_size, device=args.device)
    top = pred.top_k(args.top_k)
    rows = [
        {"id": name, "prediction": pred.names[i], "probability": float(pred.confidence[i]),
         "top_k": [{"class": c, "probability": p} for c, p in top[i]]}
        for i, name in enumerate(ds.names)
    ]
    labels = np.asarray(ds.labels)
    accuracy = None
    if len(labels) and (labels >= 0).all():
        truth = [ds.classes[v] if ds.classes and 0 <= v < len(ds.classes) else str(v) for v in labels.tolist()]
        if set(truth) <= set(clf.classes):
            accuracy = float(np.mean([p == t for p, t in zip(pred.names, truth, strict=True)]))
            for row, t in zip(rows, truth, strict=True):
                row["label"] = t
    if args.output:
        out = Path(args.output)
        text = _csv(rows, accuracy is not None) if out.suffix == ".csv" else json.dumps(
            {"model": args.model, "classes": clf.classes, "accuracy": accuracy, "predictions": rows}, indent=1)
        write_output(out, text, f"{len(rows)} predictions")
    if not (args.quiet and args.output):
        for r in rows:
            alts = "  ".join(f"{c['class']} {c['probability']:.3f}" for c in r["top_k"][1:])
            print(f"{r['id']}\t{r['prediction']}\t{r['probability']:.4f}" + (f"\t({alts})" if alts else ""))
    if accuracy is not None:
        print(f"accuracy against the data's labels: {100 * accuracy:.2f} % ({len(rows)} sequences)",
              file=sys.stderr)
    return 0
