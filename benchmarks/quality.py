"""Representation quality on real Kinect skeletons, with error bars: SLiM recipes vs an MAE baseline vs floors.

Protocols (labels are used only by the evaluation, never by pretraining):

* ``ucla``      NW-UCLA cross-view: pretrain on views 1+2 (1,020 sequences), fit on views 1+2, test on view 3
                (464).
* ``kg``        Kinder-Gator cross-subject (58 motions; participants alternately train / test): pretrain on
                NW-UCLA views 1+2 *and* the Kinder-Gator train participants (a two-set corpus, sampled 1:1),
                fit on the train participants, test on the others.
* ``transfer``  the encoders pretrained for ``ucla`` (no Kinder-Gator sequence seen), evaluated on the
                Kinder-Gator cross-subject split.

Models, each pretrained for the same steps and batch:

* ``slim``        the default recipe: contrastive queries from clean (unmasked) global views, time-ordered
                  pooling with the token max (8 bins + max) in the embedding and the contrastive head, semantic
                  tube masking (ratio 0.9) for MFM on batch-centred targets, drop path 0.1, bone lengths
                  randomised by up to 20 %, two global views and no local views;
* ``slim_paper``  the paper-faithful variant of the contrast: queries pooled from the masked student view,
                  mean pooling in the embedding and the contrastive head, two global and two local views, mask
                  ratio 0.6 (the other settings as ``slim``);
* ``mae``         the MAE-style baseline of ``benchmarks/baselines/mae.py`` (joint tokens, 90 % masking, decoder);

and the floors: ``raw`` joint coordinates (the model's own preprocessing: centred, view-aligned, resampled to
``num_frames``, flattened) and ``random`` (a randomly initialised encoder).

Every encoder is evaluated with three poolings (``time_max``, the default of ``embed()``: 8 time bins in order
and the max over all tokens; ``time``: the bins alone; ``mean``: over all tokens) by kNN (cosine 1-NN of test
among train embeddings) and a linear probe (MAMP's recipe on frozen centre-view features). Each figure is a mean
+- std over ``--seeds``. *Time to quality*:
the 1-thread CPU minutes of pretraining after which NW-UCLA kNN first passes the raw-coordinate floor
(checked every ``--eval-every`` steps; the run is the same as one uninterrupted run because ``fit()`` with
``max_steps`` does not rescale the schedule).

One JSON line per figure, then Markdown tables. Typical use (2-core CPU, 1 thread each):

    python benchmarks/quality.py --threads 1 --seeds 0 1 2 --steps 600
    for s in 0 1 2; do python benchmarks/quality.py --threads 1 --seeds $s > q$s.log & done; wait
    python benchmarks/quality.py --summarize q0.log q1.log q2.log       # one process per seed, then the tables
    python benchmarks/quality.py --threads 1 --seeds 0 --models slim --protocols ucla --set contrast_view=masked
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines.mae import MAEPretrainer, mae_small, mae_tiny  # noqa: E402
from slimkit import SLiMConfig, SLiMEncoder, Trainer  # noqa: E402
from slimkit.data import load  # noqa: E402
from slimkit.eval import knn_accuracy, linear_probe  # noqa: E402
from slimkit.preprocessing import prepare_batch, standardize  # noqa: E402
from slimkit.transforms import RandomRotation, TemporalCrop, default_augmentation  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
UCLA = DATA / "nw-ucla" / "all_sqe"
KG = DATA / "kinder-gator"
RECIPES = {
    "slim": {},
    "slim_paper": {"contrast_view": "masked", "pooling": "mean", "contrast_pooling": "mean", "num_local_views": 2,
                   "mask_ratio": 0.6},
}
LABELS = {
    "raw": "raw coordinates",
    "random": "random init",
    "slim": "SLiM default (clean-view contrast, time-ordered pooling)",
    "slim_paper": "SLiM paper-faithful (masked-view contrast, mean pooling)",
    "mae": "MAE-style baseline (MAMP geometry)",
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"


def seqs_of(ds: Any) -> list[np.ndarray]:
    return [ds[i][0] for i in range(len(ds))]


class Split:
    """Train / test sequences and labels of one labelled protocol."""

    def __init__(self, name: str, train: Any, test: Any) -> None:
        self.name = name
        self.xtr, self.xte = seqs_of(train), seqs_of(test)
        self.ytr, self.yte = np.asarray(train.labels), np.asarray(test.labels)


def embed_with(enc: SLiMEncoder, pooling: str, seqs: list[np.ndarray]) -> np.ndarray:
    """Embeddings with a given pooling (pooling has no weights, so switching it is free)."""
    old = enc.config.pooling
    enc.config.pooling = pooling
    try:
        return enc.embed(seqs, normalize=False)
    finally:
        enc.config.pooling = old


def raw_features(seqs: list[np.ndarray], cfg: SLiMConfig) -> np.ndarray:
    x = prepare_batch(seqs, cfg).numpy()[:, 0]  # first person
    return np.nan_to_num(x).reshape(len(seqs), -1)


def scores(ztr: np.ndarray, zte: np.ndarray, split: Split, linear: bool = True) -> dict[str, float]:
    out = {"knn": 100 * float(knn_accuracy(ztr, split.ytr, zte, split.yte, k=1))}
    if linear:
        out["linear"] = 100 * float(linear_probe(ztr, split.ytr, zte, split.yte, augment=False, seed=0))
    return out


def train_mae(model: MAEPretrainer, train: list[np.ndarray], steps: int, batch_size: int, lr: float,
              seed: int) -> float:
    """The baseline's pretraining loop: MAMP's view (crop p ~ U[0.5, 1], rotation 0.3 rad), AdamW, cosine lr."""
    cfg = model.encoder.config
    clean = [standardize(s, cfg) for s in train]
    crop = TemporalCrop(cfg.num_frames, 0.5, 1.0)
    rot = RandomRotation(0.3)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(seed)
    warmup = max(1, steps // 20)
    model.train()
    t0 = time.process_time()
    for step in range(steps):
        f = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for g in opt.param_groups:
            g["lr"] = lr * max(f, 0.01)
        idx = torch.randint(len(clean), (batch_size,), generator=gen).tolist()
        t = max(clean[i].shape[1] for i in idx)
        m = cfg.max_persons
        batch = np.full((batch_size, m, t) + clean[0].shape[2:], np.nan, np.float32)
        lengths = []
        for b, i in enumerate(idx):
            s = clean[i][:m]
            batch[b, : s.shape[0], : s.shape[1]] = s
            lengths.append(s.shape[1])
        x = rot(crop(torch.from_numpy(batch), lengths, generator=gen), generator=gen)
        loss = model.loss(x, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return time.process_time() - t0


def pretrain_slim(cfg: SLiMConfig, corpus: list, weights: list[float] | None, args: argparse.Namespace,
                  seed: int, out: Path, monitor: Split | None, floor: float | None) -> tuple[SLiMEncoder, dict]:
    """Pretrain with the Trainer; with a monitor, evaluate kNN every ``--eval-every`` steps (time to quality)."""
    aug = default_augmentation(cfg.layout, rotation=args.rotation, scale=tuple(args.scale),
                               limb_angle=args.limb_angle, mirror_p=args.mirror_p, bone_length=args.bone_length)
    spe = sum(len(c) for c in corpus) // args.batch_size
    tr = Trainer(cfg, corpus if len(corpus) > 1 else corpus[0], output_dir=out, batch_size=args.batch_size,
                 lr=args.lr, epochs=math.ceil(args.steps / spe), seed=seed, show_progress_bar=False,
                 save_every=10**9, save_total_limit=1, augmentation=aug, dataset_weights=weights,
                 data_description=args.data_description)
    cpu, curve, passed = 0.0, [], None
    chunk = args.eval_every if monitor is not None else args.steps
    for stop in range(chunk, args.steps + chunk, chunk):
        tr.max_steps = min(stop, args.steps)
        t0 = time.process_time()
        tr.fit()
        cpu += time.process_time() - t0
        if monitor is not None:
            enc = tr.encoder.eval()
            knn = scores(embed_with(enc, "time", monitor.xtr), embed_with(enc, "time", monitor.xte), monitor,
                         linear=False)["knn"]
            curve.append({"step": tr.global_step, "cpu_min": round(cpu / 60, 2), "knn": round(knn, 2)})
            if passed is None and floor is not None and knn > floor:
                passed = curve[-1]
        if tr.global_step >= args.steps:
            break
    return tr.encoder.eval(), {"cpu_min": round(cpu / 60, 2), "curve": curve, "passed_floor": passed}


def mean_std(v: list[float]) -> str:
    a = np.asarray(v, dtype=float)
    return f"{a.mean():.1f} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.1f}"


def parse_set_value(text: str) -> Any:
    """A ``--set`` value: JSON (numbers, true/false) when it parses, else the plain string (e.g. ``time``)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=["tiny", "small"], default="tiny")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--protocols", nargs="+", default=["ucla", "kg", "transfer"],
                    choices=["ucla", "kg", "transfer"])
    ap.add_argument("--models", nargs="+", default=["raw", "random", "slim", "slim_paper", "mae"],
                    choices=list(LABELS))
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides for the SLiM recipes (an ablation), e.g. mask_ratio=0.8")
    ap.add_argument("--mirror-p", type=float, default=0.5, help="probability of the left/right mirror augmentation")
    ap.add_argument("--rotation", type=float, default=0.3,
                    help="RandomRotation max_angle (radians, per axis) in the pretraining augmentation")
    ap.add_argument("--scale", type=float, nargs=2, default=[0.9, 1.1], metavar=("MIN", "MAX"),
                    help="RandomScale range in the pretraining augmentation (1 1: off)")
    ap.add_argument("--limb-angle", type=float, default=0.15,
                    help="RandomLimbPerturbation max_angle (radians) in the pretraining augmentation (0: off)")
    ap.add_argument("--bone-length", type=float, default=0.2,
                    help="RandomBoneLength max_change in the pretraining augmentation (default 0.2; 0: off)")
    ap.add_argument("--kg-weight", type=float, default=1.0,
                    help="sampling weight of Kinder-Gator against NW-UCLA (1) in the kg protocol's corpus")
    ap.add_argument("--no-view-align", action="store_true",
                    help="keep camera coordinates (no rotation to a body frame) for every model and the floor")
    ap.add_argument("--eval-every", type=int, default=100, help="steps between kNN checks (time to quality)")
    ap.add_argument("--no-linear", action="store_true", help="kNN only (faster)")
    ap.add_argument("--out", default="runs/quality")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (1 avoids OpenMP stalls when other jobs share the cores)")
    ap.add_argument("--summarize", nargs="+", metavar="LOG", default=None,
                    help="only print the tables of earlier runs' output (JSON lines), e.g. one log per seed")
    args = ap.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides: dict[str, Any] = {}
    for kv in args.set:
        k, v = kv.split("=", 1)
        overrides[k] = parse_set_value(v)
    need_kg = {"kg", "transfer"} & set(args.protocols)
    if not UCLA.is_dir() or (need_kg and not KG.is_dir()):
        sys.exit(f"data not found under {DATA} (NW-UCLA and Kinder-Gator; see ../shared/data/README.md)")
    ucla = load(UCLA)
    splits = {"ucla": Split("NW-UCLA cross-view (train v1+v2: 1020, test v3: 464)", ucla.subset("train"),
                            ucla.subset("test"))}
    if need_kg:
        kg = load(KG)
        splits["kg"] = Split(f"Kinder-Gator cross-subject ({len(kg.subset('train'))} / {len(kg.subset('test'))}, "
                             f"{kg.num_classes} motions)", kg.subset("train"), kg.subset("test"))
        splits["transfer"] = splits["kg"]
    cfg = getattr(SLiMConfig, args.preset)(layout="kinect20", max_persons=1, view_align=not args.no_view_align)
    common = {"preset": args.preset, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
              "mirror_p": args.mirror_p, "rotation": args.rotation, "scale": args.scale,
              "limb_angle": args.limb_angle, "kg_weight": args.kg_weight,
              "bone_length": args.bone_length, "overrides": overrides, "machine": machine()}
    print(json.dumps({"figure": "setup", "config": cfg.to_dict(), **common}), flush=True)

    rows: list[dict] = []

    def report(protocol: str, model: str, seed: int, pooling: str, res: dict[str, float], extra: dict) -> None:
        for metric, value in res.items():
            row = {"figure": "quality", "protocol": protocol, "dataset": splits[protocol].name, "model": model,
                   "pooling": pooling, "metric": metric, "seed": seed, "value": round(value, 2), **extra}
            print(json.dumps(row), flush=True)
            rows.append(row)

    floors: dict[str, float] = {}
    for protocol in args.protocols:
        sp = splits[protocol]
        # the floor under the models' own preprocessing, and under the other view-alignment choice
        for va in (cfg.view_align, not cfg.view_align):
            c = cfg.replace(view_align=va)
            res = scores(raw_features(sp.xtr, c), raw_features(sp.xte, c), sp, linear=not args.no_linear)
            if va == cfg.view_align:
                floors[protocol] = res["knn"]
            if "raw" in args.models:
                report(protocol, "raw", -1, "view-aligned" if va else "camera frame", res, {})

    pretrained: dict[tuple[str, str, int], tuple[SLiMEncoder, dict]] = {}
    for seed in args.seeds:
        for protocol in args.protocols:
            sp = splits[protocol]
            corpus_name = "ucla+kg" if protocol == "kg" else "ucla"
            for model in args.models:
                if model == "raw":
                    continue
                key = (model, corpus_name, seed)
                if key not in pretrained:
                    if model == "random":
                        torch.manual_seed(seed)
                        pretrained[key] = (SLiMEncoder(cfg).eval(), {})
                    elif model == "mae":
                        mc = (mae_small if args.preset == "small" else mae_tiny)(
                            encoder=cfg.replace(token_groups="joint", t_patch=4))
                        torch.manual_seed(seed)
                        mae = MAEPretrainer(mc)
                        corpus = splits["ucla"].xtr + (splits["kg"].xtr if corpus_name == "ucla+kg" else [])
                        secs = train_mae(mae, corpus, args.steps, args.batch_size, args.lr, seed)
                        pretrained[key] = (mae.encoder.eval(), {"cpu_min": round(secs / 60, 2)})
                    else:
                        c = cfg.replace(**{**RECIPES[model], **overrides})
                        corpus = [splits["ucla"].xtr]
                        weights = None
                        if corpus_name == "ucla+kg":
                            corpus.append(splits["kg"].xtr)
                            weights = [1.0, args.kg_weight]
                        args.data_description = ("NW-UCLA views 1+2" +
                                                 (" + Kinder-Gator train participants" if weights else "") +
                                                 ", labels unused")
                        monitor = splits["ucla"] if protocol == "ucla" and model == "slim" else None
                        pretrained[key] = pretrain_slim(
                            c, corpus, weights, args, seed, Path(args.out) / f"{model}-{corpus_name}-s{seed}",
                            monitor, floors.get("ucla"))
                enc, info = pretrained[key]
                extra = {k: v for k, v in info.items() if k in ("cpu_min", "passed_floor")}
                for pooling in ("time", "time_max", "mean"):
                    res = scores(embed_with(enc, pooling, sp.xtr), embed_with(enc, pooling, sp.xte), sp,
                                 linear=not args.no_linear)
                    report(protocol, model, seed, pooling, res, extra)
                if info.get("curve") and protocol == "ucla":
                    ttq = {"figure": "time_to_quality", "protocol": protocol, "model": model, "seed": seed,
                           "raw_knn_floor": round(floors["ucla"], 2), **info}
                    print(json.dumps(ttq), flush=True)
                    rows.append(ttq)

    print(f"\nProtocol: {args.preset} preset, {args.steps} steps x batch {args.batch_size}, lr {args.lr}, "
          f"seeds {args.seeds}, overrides {overrides or 'none'}; {machine()}")
    print_tables(rows, {p: splits[p].name for p in args.protocols}, args.models)


def print_tables(rows: list[dict], protocols: dict[str, str], models: list[str]) -> None:
    """Markdown tables, mean ± std over the seeds found in ``rows``; time to quality per seed."""
    for protocol, name in protocols.items():
        print(f"\n**{name}** ({protocol}): mean ± std over seeds\n")
        print("| model | pooling / preprocessing | kNN top-1 (%) | linear top-1 (%) | seeds | pretrain CPU min |")
        print("|---|---|---|---|---|---|")
        for model in models:
            for pooling in ("view-aligned", "camera frame", "time", "time_max", "mean"):
                sel = [r for r in rows if r.get("figure") == "quality" and r["protocol"] == protocol
                       and r["model"] == model and r["pooling"] == pooling]
                if not sel:
                    continue
                cell = {m: mean_std([r["value"] for r in sel if r["metric"] == m]) if any(
                    r["metric"] == m for r in sel) else "-" for m in ("knn", "linear")}
                seeds = sorted({r["seed"] for r in sel})
                cpu = [r["cpu_min"] for r in sel if r.get("cpu_min") is not None and r["metric"] == "knn"]
                cpu_s = f"{np.mean(cpu):.1f}" if cpu else "-"
                print(f"| {LABELS[model]} | {pooling} | {cell['knn']} | {cell['linear']} | "
                      f"{len(seeds) if seeds != [-1] else '-'} | {cpu_s} |")
    ttq = [r for r in rows if r.get("figure") == "time_to_quality"]
    if ttq:
        print("\n**Time to quality** (NW-UCLA kNN above the raw-coordinate floor, checked every --eval-every steps)\n")
        print("| seed | floor kNN | first pass: step | CPU min | kNN then | kNN at the end |")
        print("|---|---|---|---|---|---|")
        for r in ttq:
            p = r.get("passed_floor") or {}
            print(f"| {r['seed']} | {r['raw_knn_floor']} | {p.get('step', 'never')} | {p.get('cpu_min', '-')} | "
                  f"{p.get('knn', '-')} | {r['curve'][-1]['knn'] if r['curve'] else '-'} |")


def summarize(paths: list[str]) -> None:
    """Combine the JSON lines of several runs (e.g. one process per seed) into one set of tables."""
    rows, protocols, models, ttq = [], {}, [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                if r.get("figure") == "time_to_quality":
                    ttq.append(r)
                if r.get("figure") != "quality":
                    continue
                if r["model"] == "raw" and any(q["model"] == "raw" and q["protocol"] == r["protocol"]
                                               and q["pooling"] == r["pooling"] and q["metric"] == r["metric"]
                                               for q in rows):
                    continue  # the floors are deterministic: count them once
                rows.append(r)
                protocols.setdefault(r["protocol"], r["dataset"])
                if r["model"] not in models:
                    models.append(r["model"])
    print_tables(rows + ttq, protocols, [m for m in LABELS if m in models])

if __name__ == "__main__":
    main()
