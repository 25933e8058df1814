"""``slimkit pretrain``: self-supervised pretraining on one or several unlabelled data sets."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from slimkit import SLiMConfig, SLiMEncoder, Trainer
from slimkit._utils import default_device
from slimkit.checks import data_channels, infer_in_channels

from ._common import (
    add_command,
    add_input_format,
    add_layout,
    add_precision,
    add_quiet,
    add_trust_pickle,
    check_channels,
    check_device,
    load_data,
    naming_files,
    say,
    screen,
)


def add_parser(sub: Any) -> None:
    p = add_command(
        sub, "pretrain",
        help="self-supervised pretraining on unlabelled sequences",
        description="Pretrain a SLiM encoder (masked feature modeling + global-local contrastive, no decoder). "
        "Checkpoints go to OUTPUT_DIR, and a run resumes from there when restarted; the final encoder is saved to "
        "OUTPUT_DIR/encoder.",
        examples="  slimkit pretrain train.npy --layout ntu25 --preset tiny -o runs/tiny --max-steps 50\n"
        "  slimkit pretrain ntu60.pkl --split xsub_train --preset base -o runs/ntu60 --epochs 150\n"
        "  torchrun --nproc-per-node 4 -m slimkit pretrain ntu60.pkl --split xsub_train -o runs/ddp\n",
    )
    p.add_argument("data", nargs="+",
                   help="training data files or folders (labels are not used); several sets of any layouts are "
                   "converted to the model's layout and pretrained on together")
    p.add_argument("--weights", type=float, nargs="+", default=None,
                   help="sampling weight of each data set (default: proportional to their sizes)")
    p.add_argument("--output-dir", "-o", required=True, help="folder for checkpoints and the final encoder")
    p.add_argument("--preset", choices=["tiny", "small", "base"], default="base",
                   help="model size: base is MAMP's encoder size (use a GPU); small and tiny suit a CPU")
    p.add_argument("--config", help="config.json to use instead of a preset")
    p.add_argument("--resume-from", help="start from this pretrained encoder (folder or Hub id)")
    p.add_argument(
        "--in-channels",
        type=int,
        choices=[2, 3],
        help="values per joint the model reads: 2 for 2-D keypoints (x, y), also fed (x, y, score); 3 for "
        "(x, y, z). Default: read from the data (2 for 2-D data or 2-D layouts with scores, else 3)",
    )
    p.add_argument(
        "--normalize-scale",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale each sequence to unit RMS distance from its centre, as pixel coordinates need. "
        "Default: on for 2-D data (in_channels 2), off for 3-D",
    )
    p.add_argument("--split", help="named split of the data file to train on, e.g. xsub_train")
    add_layout(p)
    add_input_format(p)
    p.add_argument("--epochs", type=int, default=100, help="passes over the data (the schedule's horizon)")
    p.add_argument("--batch-size", type=int, default=64, help="global batch size (over all processes)")
    p.add_argument(
        "--lr", type=float, default=None, help="peak AdamW learning rate (default: the trainer's, 5e-4)"
    )
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimiser steps")
    p.add_argument("--device", default=None, help="cpu, cuda ... (default: CUDA when available)")
    add_precision(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, data order, views and masks")
    p.add_argument("--eval-split", help="labelled split of the data for a kNN monitor after each epoch")
    add_quiet(p, "no progress bar")
    add_trust_pickle(p)
    p.set_defaults(func=run)


def _config(args: argparse.Namespace, ds: Any, mask: Any) -> Any:
    """The config (or encoder path) to pretrain: channels and layout from the data unless flags say otherwise."""
    if args.resume_from:
        return args.resume_from
    inferred = infer_in_channels(data_channels(ds, mask), ds.layout)
    if args.config:
        config = SLiMConfig.from_json_file(args.config)
        changes: dict[str, Any] = {}
        if args.in_channels:
            changes["in_channels"] = args.in_channels
        if args.normalize_scale is not None:
            changes["normalize_scale"] = args.normalize_scale
        return dataclasses.replace(config, **changes) if changes else config
    in_channels = args.in_channels or inferred
    overrides: dict[str, Any] = {"layout": args.layout or ds.layout, "in_channels": in_channels}
    # 2-D keypoints are pixels (hundreds of units, image-sized): scale them to unit RMS unless told otherwise
    overrides["normalize_scale"] = in_channels == 2 if args.normalize_scale is None else args.normalize_scale
    return getattr(SLiMConfig, args.preset)(**overrides)


def run(args: argparse.Namespace) -> int:
    check_device(args.device)
    paths = list(args.data)
    one = len(paths) == 1
    if args.weights is not None and len(args.weights) != len(paths):
        raise ValueError(f"--weights: expected one weight per data set ({len(paths)}), got {len(args.weights)}")
    sets, total = [], 0
    for path in paths:
        say(args, f"reading {path} ...")
        # with several sets, --split applies to those that have it; the others are used whole
        d = load_data(path, args.layout if one else None, args.split if one else None,
                      input_format=args.input_format, trust_pickle=args.trust_pickle)
        if args.split and not one and args.split in d.split:
            d = d.subset(args.split)
        total += len(d)
        d, _ = screen(d, path, None, name="data")  # from here on, every item has a usable joint
        sets.append(d)
    ds = sets[0]
    config_or_encoder = _config(args, ds, None)
    if isinstance(config_or_encoder, SLiMConfig):
        config = config_or_encoder
        fix = (
            "pass --in-channels matching the data (or leave it out: it is read from the data)"
            if not args.config
            else "pass --in-channels matching the data, or use a --config with that in_channels"
        )
    else:
        say(args, f"loading {config_or_encoder} ...")
        config_or_encoder = SLiMEncoder.from_pretrained(config_or_encoder)
        config = config_or_encoder.config
        fix = "this model cannot read these data: pretrain a new one without --resume-from"
    for k, (path, d) in enumerate(zip(paths, sets, strict=True)):
        if config.layout != d.layout:
            try:
                converted = d.to_layout(config.layout)
            except ValueError as e:
                raise ValueError(
                    f"data {path} are in layout {d.layout!r} but the model's is {config.layout!r} ({e}); "
                    "pass --layout to name the data's layout, or a --config / --resume-from model in it"
                ) from None
            say(args, f"{path}: converting joints from layout {d.layout!r} to the model's {config.layout!r}")
            d = converted
        check_channels(d, None, config, path, fix)
        # screen again with the model's channel reading (a 2-D model drops (x, y, score) joints at min_score)
        sets[k], _ = screen(d, path, config.in_channels, config.min_score, name="data")
    ds = sets[0]
    eval_data = None
    if args.eval_split:
        eval_data = load_data(paths[0], args.layout if one else None, args.eval_split, name="--eval-split",
                              trust_pickle=args.trust_pickle)
        eval_data, _ = screen(eval_data, paths[0], config.in_channels, config.min_score, "--eval-split")
        if eval_data.layout != config.layout:
            eval_data = eval_data.to_layout(config.layout)
    skipped = total - sum(len(d) for d in sets)
    say(
        args,
        f"{sum(len(d) for d in sets)} sequences"
        + (f" from {len(sets)} data sets" if not one else "")
        + f", layout {config.layout}, in_channels {config.in_channels}, "
        f"{config.num_frames} frames, normalize_scale {config.normalize_scale}"
        + (f" ({skipped} skipped)" if skipped else "")
        + "; building the model and the data loader ...",
    )
    options = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "device", "precision", "max_steps",
                                             "seed")}
    options.update(
        eval_data=eval_data,
        show_progress_bar=not args.quiet,
        data_description=" + ".join(f"{Path(p).name} ({len(d)} sequences)" for p, d in zip(paths, sets, strict=True))
        + (f", split {args.split}" if args.split else ""),
    )
    if not one:
        # several data sets, each already in the model's layout, sampled by --weights (default: by size)
        options["dataset_weights"] = args.weights or [float(len(d)) for d in sets]
    # options left unset keep the trainer's defaults
    trainer = Trainer(
        config_or_encoder,
        ds if one else sets,
        output_dir=args.output_dir,
        **{k: v for k, v in options.items() if v is not None},
    )
    say(args, f"training on {default_device(args.device)}; metrics go to "
              f"{Path(args.output_dir) / 'metrics.jsonl'}")
    with naming_files(eval_data if eval_data is not None else ds, paths[0], "eval_data"):
        # a corpus of several sets is indexed across them: name files only for a single set
        with naming_files(ds, paths[0], "train_data") if one else contextlib.nullcontext():
            record = _fit_with_monitor(trainer, quiet=args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one process writes the result
        out = Path(args.output_dir) / "encoder"
        trainer.encoder.save_pretrained(out)
        loss = record.get("loss") if isinstance(record, dict) else None
        knn = record.get("knn_top1") if isinstance(record, dict) else None
        print(
            f"done: step {trainer.global_step}"
            + (f", loss {loss:.4f}" if isinstance(loss, float) else "")
            + (f", kNN monitor top-1 {100 * knn:.2f} %" if isinstance(knn, float) else "")
            + (f", {skipped} sequences skipped" if skipped else "")
            + f"; saved the encoder to {out} (SLiMEncoder.from_pretrained({str(out)!r}))"
        )
    return 0


def _fit_with_monitor(trainer: Any, quiet: bool = False) -> Any:
    """``trainer.fit()``, printing each kNN monitor result to the terminal as well as to metrics.jsonl."""
    if trainer.eval_source is None or int(os.environ.get("RANK", "0")) != 0:
        return trainer.fit()
    evaluate = trainer.evaluate

    def evaluate_and_print(*a: Any, **kw: Any) -> dict[str, float]:
        res = evaluate(*a, **kw)
        if "knn_top1" in res:
            tqdm.write(
                f"step {trainer.global_step}: kNN monitor (leave-one-out 1-NN, eval split) top-1 "
                f"{100 * res['knn_top1']:.2f} %",
                file=sys.stderr,
            )
        return res

    trainer.evaluate = evaluate_and_print
    try:
        return trainer.fit()
    finally:
        del trainer.evaluate
