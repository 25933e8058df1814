"""``slimkit evaluate``: kNN accuracy and, optionally, a linear probe of a frozen encoder on labelled data (or on
saved embeddings), with per-class reports, confusion matrices and a classifier folder to ship."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from slimkit import eval as protocols  # called through the package, where tests count the calls
from slimkit import knn_accuracy, linear_probe
from slimkit._utils import atomic_write_text
from slimkit.metrics import classification_report
from slimkit.viz import plot_confusion_matrix

from ._common import (
    add_command,
    add_model_options,
    add_trust_pickle,
    check_device,
    check_exists,
    load_model,
    prepared_data,
    say,
    screened_pass,
    split_of,
    warn,
)
from ._files import read_embeddings, sidecar


def add_parser(sub: Any) -> None:
    p = add_command(
        sub, "evaluate",
        help="kNN retrieval accuracy and linear probe of an encoder",
        description="Evaluate a frozen encoder on labelled data: kNN top-1 (cosine, train sequences as the "
        "gallery, test sequences as queries) and, with --linear-probe, a linear classifier on the "
        "embeddings. The protocol is printed with every number.",
        examples="  slimkit evaluate train.npz --test test.npz -m runs/x/encoder --linear-probe\n"
        "  slimkit evaluate ntu60.pkl --train-split xsub_train --test-split xsub_val -m org/slim-ntu60-base\n"
        "  slimkit evaluate penn/labels -m runs/penn/encoder -k 1 5 -o penn_eval.json\n"
        "  slimkit embed nw-ucla/all_sqe -m slimkit/slim-kinect-tiny -o ucla.npy && slimkit evaluate ucla.npy\n"
        "\nWithout --test or --train-split/--test-split, the data's own split is used (train/test, xsub_train/"
        "xsub_val, ...).\n",
    )
    p.add_argument(
        "train",
        help="labelled training data (the kNN gallery), or embeddings .npy written by 'slimkit embed'; also "
        "the test data when --test is not given",
    )
    p.add_argument("--test", help="labelled test data (default: TRAIN with --test-split)")
    p.add_argument("--train-split", help="named split of TRAIN, e.g. xsub_train")
    p.add_argument("--test-split", help="named split of the test data, e.g. xsub_val")
    p.add_argument(
        "-k", type=int, nargs="+", default=[1], metavar="K", help="neighbour counts for kNN (default: 1)"
    )
    p.add_argument(
        "--linear-probe",
        action="store_true",
        help="also train and test a linear probe (MAMP's recipe: costs one encoder pass per epoch)",
    )
    p.add_argument("--probe-epochs", type=int, default=100, help="linear probe epochs")
    p.add_argument(
        "--save-classifier", metavar="DIR",
        help="with --linear-probe: save encoder + probe head + class names as a classifier folder for "
        "'slimkit predict' (its card states the data, protocol and accuracy)",
    )
    p.add_argument(
        "--output", "-o",
        help="write the results as JSON (top-1, top-5, mean per-class accuracy, per-class accuracy and the "
        "confusion matrix of each evaluation), with one confusion-matrix PNG per evaluation beside it",
    )
    p.add_argument("--no-plots", action="store_true", help="with --output, write no confusion-matrix PNGs")
    add_model_options(p, model_required=False)
    add_trust_pickle(p)
    p.set_defaults(func=run)


_SPLIT_PAIRS = (
    ("train", "test"),
    ("train", "val"),
    ("xsub_train", "xsub_val"),
    ("xview_train", "xview_val"),
    ("xset_train", "xset_val"),
)


def _default_splits(splits: Any, source: str) -> tuple[str, str]:
    """The data's own train/test split names, when it has exactly one standard pair (first match wins)."""
    names = set(splits)
    for tr, te in _SPLIT_PAIRS:
        if tr in names and te in names:
            return tr, te
    raise ValueError(
        f"{source}: say which sequences to test on: --test DATA, or --train-split and --test-split; "
        f"the data's splits are {sorted(names) or 'none'}"
    )


def _embedding_set(path: str, split: str | None, name: str) -> tuple[Any, Any, dict[str, Any]]:
    """Embeddings, labels and sidecar of a ``slimkit embed`` output, optionally one split's rows, valid rows only."""
    emb, info = read_embeddings(path, name)
    labels = info.get("labels")
    if labels is None:
        raise ValueError(f"{name}: {path} has no labels (no .json sidecar from 'slimkit embed' beside it)")
    rows = np.arange(len(emb))
    if split is not None:
        splits = info.get("splits") or {}
        if split not in splits:
            raise ValueError(f"{name}: no split named {split!r} in {sidecar(Path(path))}; splits: {sorted(splits)}")
        rows = np.asarray(splits[split], dtype=np.int64)
    valid = np.asarray(info.get("valid") or [True] * len(emb), dtype=bool)
    rows = rows[valid[rows]]
    return emb[rows], np.asarray(labels)[rows], info


@dataclasses.dataclass
class _Features:
    """What the evaluations run on: train and test features and labels, and where they came from."""

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    classes: list[str] | None
    views: str  # what the features are, for the protocol
    train_split: str | None
    test_split: str | None
    encoder: Any = None  # with the usable sequences, when the features were computed here
    train: Any = None
    test: Any = None


def _center_rows(args: argparse.Namespace, encoder: Any, ds: Any, path: str, name: str) -> tuple[Any, Any]:
    """The kNN protocol's centre-view features of the usable sequences, in one pass; ``(features, usable)``."""
    x, mask = screened_pass(
        encoder, ds, path, name, "skipped",
        lambda screened: protocols.center_view_embeddings(screened, encoder, batch_size=args.batch_size,
                                                          device=args.device),
    )
    return x[mask], mask


def _from_embeddings(args: argparse.Namespace, results: dict[str, Any]) -> _Features:
    """Train and test features read from ``slimkit embed`` outputs."""
    train_split, test_split = args.train_split, args.test_split
    if args.test is None and not (train_split and test_split):
        _, info = read_embeddings(args.train, "train")
        train_split, test_split = _default_splits(info.get("splits") or {}, args.train)
        say(args, f"using the data's own split: {train_split} / {test_split}")
    x_train, y_train, info = _embedding_set(args.train, train_split, "train")
    x_test, y_test, _ = _embedding_set(args.test or args.train, test_split, "test")
    results["skipped"] = info.get("skipped") or []
    results.update(model=info.get("model"), embeddings=args.train)
    views = f"embeddings read from {args.train}" + (f" and {args.test}" if args.test else "")
    return _Features(x_train, y_train, x_test, y_test, info.get("classes"), views, train_split, test_split)


def _from_data(args: argparse.Namespace, results: dict[str, Any]) -> _Features:
    """The encoder, the usable train and test sequences and their centre-view features."""
    if args.model is None:
        raise ValueError("--model: required to evaluate skeleton data (or pass embeddings .npy from "
                         "'slimkit embed')")
    train_split, test_split = args.train_split, args.test_split
    say(args, f"loading the model {args.model} ...")
    encoder = load_model(args.model)
    say(args, f"reading {args.train} ...")
    base = prepared_data(args, args.train, encoder, None, "train")
    if args.test is None and not (train_split and test_split):
        train_split, test_split = _default_splits(base.split, args.train)
        say(args, f"using the data's own split: {train_split} ({len(base.split[train_split])}) / "
                  f"{test_split} ({len(base.split[test_split])})")
    train = split_of(base, train_split, args.train, "train")
    if args.test:
        test = prepared_data(args, args.test, encoder, test_split, "--test")
    else:
        test = split_of(base, test_split, args.train, "test")
    for name, ds in (("train", train), ("test", test)):
        if (ds.labels < 0).any():
            raise ValueError(
                f"{name}: {(ds.labels < 0).sum()} of {len(ds)} sequences have no label; evaluation "
                "needs labelled data"
            )
    say(args, f"embedding {len(train)} train and {len(test)} test sequences (once, for every k) ...")
    x_train, train_ok = _center_rows(args, encoder, train, args.train, "train")
    x_test, test_ok = _center_rows(args, encoder, test, args.test or args.train, "test")
    results["skipped"] = {
        "train": [train.names[i] for i in (~train_ok).nonzero()[0]],
        "test": [test.names[i] for i in (~test_ok).nonzero()[0]],
    }
    train, test = train.subset(train_ok), test.subset(test_ok)
    views = (
        f"encoder embeddings of the centre view (crop p=0.95 of the valid frames, resampled to "
        f"{encoder.config.num_frames} frames)"
    )
    return _Features(x_train, train.labels, x_test, test.labels, train.classes, views, train_split, test_split,
                     encoder, train, test)


def _report(res: Any, classes: Any, title: str) -> dict[str, Any]:
    """The classification report of ``res``, printed as one line."""
    rep = classification_report(res, classes)
    print(f"{title}: top-1 {100 * rep['top1']:.2f} %, top-5 {100 * rep['top5']:.2f} %, mean class "
          f"{100 * rep['mean_class_accuracy']:.2f} %  [{res.protocol}]")
    return rep


def run(args: argparse.Namespace) -> int:
    if args.save_classifier and not args.linear_probe:
        raise ValueError("--save-classifier saves the linear probe's head: add --linear-probe")
    check_device(args.device)
    from_embeddings = args.train.endswith(".npy") and args.model is None
    if args.test:
        check_exists(args.test, "--test")
    check_exists(args.train, "train")
    results: dict[str, Any] = {"model": args.model}
    feats = (_from_embeddings if from_embeddings else _from_data)(args, results)
    results.update(train=int(len(feats.x_train)), test=int(len(feats.x_test)),
                   train_split=feats.train_split, test_split=feats.test_split)
    reports: dict[str, Any] = {}
    for k in args.k:
        res = knn_accuracy(feats.x_train, feats.y_train, feats.x_test, feats.y_test, k=k)
        res.protocol = res.protocol.replace("precomputed embeddings", feats.views)
        reports[f"knn_k{k}"] = _report(res, feats.classes, f"kNN (k={k})")
        results[f"knn_top1_k{k}"] = float(res.accuracy)
        results[f"knn_k{k}_protocol"] = res.protocol
    if args.linear_probe:
        if feats.encoder is not None:
            res = linear_probe(
                feats.train, None, feats.test, None, encoder=feats.encoder, epochs=args.probe_epochs,
                embed_batch_size=args.batch_size, device=args.device, show_progress_bar=not args.quiet,
            )
        else:
            res = linear_probe(
                feats.x_train, feats.y_train, feats.x_test, feats.y_test, epochs=args.probe_epochs, device=args.device,
                show_progress_bar=not args.quiet,
            )
        reports["linear_probe"] = _report(res, feats.classes, "linear probe")
        results["linear_probe_top1"] = float(res.accuracy)
        results["linear_probe_protocol"] = res.protocol
        if args.save_classifier:
            results["classifier"] = _save_classifier(args, res, feats)
    results["reports"] = reports
    if args.output:
        _write_results(args, results, reports)
    return 0


def _save_classifier(args: argparse.Namespace, res: Any, feats: _Features) -> str:
    """``--save-classifier``: the encoder and the probe's head as a classifier folder whose card states the data."""
    if feats.encoder is None:
        raise ValueError("--save-classifier needs the encoder: evaluate skeleton data with --model, "
                         "not saved embeddings")
    described = f"{args.train}" + (f" (split {feats.train_split})" if feats.train_split else "")
    tested = f"{args.test or args.train}" + (f" (split {feats.test_split})" if feats.test_split else "")
    clf = res.to_classifier(feats.encoder, class_names=feats.classes,
                            training_data=f"{described}, {len(feats.x_train)} sequences",
                            test_data=f"{tested}, {len(feats.x_test)} sequences")
    clf.save_pretrained(args.save_classifier)
    print(f"saved the classifier (encoder + probe head, {clf.num_classes} classes) to "
          f"{args.save_classifier}: slimkit predict -m {args.save_classifier} DATA")
    return str(args.save_classifier)


def _write_results(args: argparse.Namespace, results: dict[str, Any], reports: dict[str, Any]) -> None:
    """``--output``: the JSON results and, unless --no-plots, one confusion-matrix PNG per evaluation."""
    out = Path(args.output)
    atomic_write_text(out, json.dumps(results, indent=1))
    pngs = []
    if not args.no_plots:
        try:
            for name, rep in reports.items():
                png = out.with_name(f"{out.stem}.{name}.confusion.png")
                plot_confusion_matrix(rep["confusion_matrix"], rep["labels"], png,
                                      title=f"{name}: top-1 {100 * rep['top1']:.1f} %")
                pngs.append(str(png))
        except ImportError as e:  # matplotlib missing: the JSON still has the matrices
            warn(f"no confusion-matrix PNG ({e})")
    print(f"wrote {out}" + (f" and {len(pngs)} confusion matrices ({', '.join(pngs)})" if pngs else ""),
          file=sys.stderr)
