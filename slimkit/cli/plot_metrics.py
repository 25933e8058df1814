"""``slimkit plot-metrics``: a pretraining run's loss and kNN monitor curves drawn to a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from slimkit.viz import plot_metrics

from ._common import add_command, check_exists


def add_parser(sub: Any) -> None:
    p = add_command(
        sub, "plot-metrics",
        help="draw a pretraining run's loss and kNN monitor curves to a PNG",
        description="Read RUN_DIR/metrics.jsonl (written by 'slimkit pretrain') and draw one panel per "
        "metric: loss, its MFM and GLCL terms, the kNN monitor, the learning rate.",
        examples="  slimkit plot-metrics runs/x\n"
        "  slimkit plot-metrics runs/x -o loss.png --keys loss knn_top1\n",
    )
    p.add_argument("run_dir", help="the run's output folder (or its metrics.jsonl)")
    p.add_argument("--output", "-o", help="image to write (default: RUN_DIR/metrics.png)")
    p.add_argument("--keys", nargs="+", help="metrics to draw (default: all but epoch, momentum, samples/s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_exists(args.run_dir, "run_dir")
    out = Path(args.output) if args.output else Path(args.run_dir) / "metrics.png"
    plot_metrics(args.run_dir, out, keys=args.keys)
    print(f"wrote {out}")
    return 0
