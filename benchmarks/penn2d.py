"""The shipped 2-D model: a COCO-17 encoder pretrained on Penn Action's train split, with its floors.

Penn Action (real 2-D keypoints in pixels, invisible joints missing) is converted from ``penn13`` to
``coco17`` (eyes and ears, which Penn lacks, are missing joints), so the model reads what pose estimators
write. The default recipe pretrains the tiny preset on the train split (1,258 sequences, labels unused);
then kNN (cosine 1-NN, test among train) and the linear probe (MAMP's recipe) are measured on the test split
(1,068) against raw coordinates (same preprocessing: centred, scale-normalised, resampled, flattened) and a
randomly initialised encoder. Sequences with no visible joint are left out of every figure (one in train).

    python benchmarks/penn2d.py --threads 1 --steps 1000 --seeds 0 1 2 --save slimkit/pretrained/slim-penn-coco17-tiny
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import machine, mean_std, raw_features, scores  # noqa: E402
from slimkit import SLiMConfig, SLiMEncoder, Trainer  # noqa: E402
from slimkit.data import load  # noqa: E402
from slimkit.preprocessing import missing_joints  # noqa: E402
from slimkit.transforms import default_augmentation  # noqa: E402

PENN = Path(__file__).resolve().parents[2] / "shared" / "data" / "penn-action" / "labels"


class _Split:
    def __init__(self, train, test) -> None:
        keep = lambda ds: [i for i in range(len(ds)) if not missing_joints(ds[i][0]).all()]  # noqa: E731
        tr, te = keep(train), keep(test)
        self.dropped = (len(train) - len(tr), len(test) - len(te))
        self.xtr = [train[i][0] for i in tr]
        self.xte = [test[i][0] for i in te]
        self.ytr, self.yte = np.asarray(train.labels)[tr], np.asarray(test.labels)[te]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--save", default=None, help="save the first seed's encoder here, with its card")
    ap.add_argument("--out", default="runs/penn2d")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not PENN.is_dir():
        sys.exit(f"Penn Action not found at {PENN}")
    ds = load(PENN).to_layout("coco17")
    sp = _Split(ds.subset("train"), ds.subset("test"))
    cfg = SLiMConfig.tiny(layout="coco17", in_channels=2, max_persons=1, normalize_scale=True)
    name = f"Penn Action (coco17, 2-D) train {len(sp.xtr)} / test {len(sp.xte)}, 15 actions"
    print(json.dumps({"figure": "setup", "dataset": name, "dropped_no_visible_joint": sp.dropped,
                      "config": cfg.to_dict(), "steps": args.steps, "machine": machine()}), flush=True)
    rows = []

    def report(model: str, seed: int, res: dict, extra: dict | None = None) -> None:
        for metric, value in res.items():
            row = {"figure": "quality", "dataset": name, "model": model, "metric": metric, "seed": seed,
                   "value": round(value, 2), **(extra or {})}
            print(json.dumps(row), flush=True)
            rows.append(row)

    report("raw coordinates", -1, scores(raw_features(sp.xtr, cfg), raw_features(sp.xte, cfg), sp))
    saved = None
    for seed in args.seeds:
        torch.manual_seed(seed)
        enc = SLiMEncoder(cfg).eval()
        report("random init", seed, scores(enc.embed(sp.xtr, normalize=False), enc.embed(sp.xte, normalize=False),
                                           sp))
        spe = len(sp.xtr) // args.batch_size
        tr = Trainer(cfg, sp.xtr, output_dir=Path(args.out) / f"s{seed}", batch_size=args.batch_size, lr=args.lr,
                     epochs=math.ceil(args.steps / spe), max_steps=args.steps, seed=seed, save_every=10**9,
                     show_progress_bar=False, augmentation=default_augmentation("coco17"),
                     data_description=f"Penn Action train split ({len(sp.xtr)} sequences, 2-D, converted "
                                      "penn13 -> coco17), labels unused")
        t0 = time.process_time()
        tr.fit()
        cpu = (time.process_time() - t0) / 60
        enc = tr.encoder.eval()
        res = scores(enc.embed(sp.xtr, normalize=False), enc.embed(sp.xte, normalize=False), sp)
        report("SLiM default recipe", seed, res, {"cpu_min": round(cpu, 2)})
        if saved is None:
            saved = (enc, res, seed)

    summary = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        for metric in ("knn", "linear"):
            v = [r["value"] for r in rows if r["model"] == model and r["metric"] == metric]
            summary[f"{model} {metric}"] = mean_std(v)
    print(json.dumps({"figure": "summary", "seeds": args.seeds, **summary}), flush=True)
    print("\n| model | kNN top-1 (%) | linear top-1 (%) |\n|---|---|---|")
    for model in dict.fromkeys(r["model"] for r in rows):
        print(f"| {model} | {summary[f'{model} knn']} | {summary[f'{model} linear']} |")
    if args.save and saved is not None:
        enc, res, seed = saved
        n = len(args.seeds)
        enc.card_info["results"] = {
            f"Penn Action test kNN top-1 (seed {seed})": f"{res['knn']:.2f} %",
            f"Penn Action test linear top-1 (seed {seed})": f"{res['linear']:.2f} %",
            f"same recipe, mean ± std over {n} seeds, kNN / linear": (
                f"{summary['SLiM default recipe knn']} / {summary['SLiM default recipe linear']}"),
            "floor: raw coordinates, kNN / linear": (
                f"{summary['raw coordinates knn']} / {summary['raw coordinates linear']}"),
            "floor: random init, kNN / linear": f"{summary['random init knn']} / {summary['random init linear']}",
        }
        enc.card_info["protocol"] = (
            "Penn Action's train flag: fit on train, test on test; kNN = cosine 1-NN of test among train, linear = "
            "MAMP's probe (BatchNorm + Linear, SGD, 100 epochs) on frozen features. Command: `python "
            f"benchmarks/penn2d.py --steps {args.steps} --seeds {' '.join(map(str, args.seeds))}`.")
        enc.save_pretrained(args.save)
        print(f"saved seed {seed}'s encoder to {args.save}", file=sys.stderr)


if __name__ == "__main__":
    main()
