"""``slimkit models``: the pretrained encoders available offline (shipped with the package or in the Hub cache)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from slimkit import list_pretrained

from ._common import add_command


def add_parser(sub: Any) -> None:
    p = add_command(
        sub, "models",
        help="list the pretrained encoders available offline (shipped and cached)",
        description="List the encoders that 'from_pretrained' and '--model' load without a network: those "
        "shipped inside the package, then slimkit models in the Hugging Face cache, with the layout, input "
        "channels, frames, width and training data of each.",
        examples="  slimkit models\n"
        "  slimkit models ucla -v\n"
        "  slimkit models 'slimkit/*' --json\n",
    )
    p.add_argument("filter", nargs="?", help="wildcard pattern or substring of the name, layout or data")
    p.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    p.add_argument("--verbose", "-v", action="store_true", help="also print each model card's results")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    models = list_pretrained(args.filter, info=True)
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=1))
        return 0
    if not models:
        print("no pretrained models" + (f" match {args.filter!r}" if args.filter else "") +
              " (none ships with this install and none is in the Hub cache)")
        return 0
    rows = [("name", "source", "layout", "channels", "frames", "width", "trained on")]
    for m in models:
        rows.append((m.name, m.source, m.layout, str(m.in_channels), str(m.num_frames), str(m.dim),
                     m.training_data or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    if args.verbose:
        for m in models:
            if m.results:
                print(f"\n{m.name}:")
                for k, v in m.results.items():
                    print(f"  {k}: {v}")
    return 0
