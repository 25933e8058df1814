"""Representation quality on real skeletons: SLiM vs an MAE-style baseline vs ablations vs floors.

On NW-UCLA (cross-view: pretrain and fit on views 1+2, test on view 3) this pretrains, for the same number of
optimizer steps and the same batch size,

* ``slim``        slimkit's SLiM (semantic tube masking, MFM + GLCL, EMA teacher),
* ``slim_random`` the same with random token masking instead of semantic tube masking,
* ``mae``         the MAE-style baseline of ``benchmarks/baselines/mae.py`` (MAMP geometry scaled to the
                  same width and depth; joint tokens, 90 % masking, 10 % visible, decoder, motion target),

and evaluates each, plus a randomly initialised encoder and the raw joint coordinates (resampled, centred,
view-aligned, flattened), with

* kNN retrieval: cosine 1-NN of each test embedding among the train embeddings, top-1 accuracy;
* linear probe: MAMP's recipe (BatchNorm without affine + Linear, SGD momentum 0.9, lr 0.1, batch 256,
  100 epochs, cosine schedule) on frozen, precomputed centre-view features (no train-time augmentation).

One JSON line per figure, then a Markdown table. The protocol is printed with the numbers.

    python benchmarks/quality.py --preset small --steps 600 --batch-size 64
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

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines.mae import MAEPretrainer, mae_small, mae_tiny  # noqa: E402
from slimkit import SLiMConfig, SLiMEncoder, Trainer  # noqa: E402
from slimkit.data import load  # noqa: E402
from slimkit.evaluation import knn_accuracy, linear_probe  # noqa: E402
from slimkit.preprocessing import prepare_batch, standardize  # noqa: E402
from slimkit.transforms import RandomRotation, TemporalCrop, default_augmentation  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nw-ucla" / "all_sqe"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}"


def evaluate(name: str, train_z: np.ndarray, test_z: np.ndarray, ytr: np.ndarray, yte: np.ndarray,
             extra: dict) -> list[dict]:
    knn = knn_accuracy(train_z, ytr, test_z, yte, k=1)
    lin = linear_probe(train_z, ytr, test_z, yte, augment=False, seed=0)
    rows = []
    for metric, res in (("knn_top1", knn), ("linear_top1", lin)):
        row = {"figure": "quality", "dataset": "NW-UCLA cross-view (train v1+v2: 1020, test v3: 464)",
               "model": name, "metric": metric, "value": round(100 * float(res), 2), **extra,
               "protocol": res.protocol}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def raw_features(seqs: list[np.ndarray], cfg: SLiMConfig) -> np.ndarray:
    x = prepare_batch(seqs, cfg).numpy()[:, 0]  # first person
    return np.nan_to_num(x).reshape(len(seqs), -1)


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
    t0 = time.perf_counter()
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
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=["tiny", "small"], default="small")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/quality")
    ap.add_argument("--only", nargs="*", default=None, help="subset of: raw random slim slim_random mae")
    ap.add_argument("--mfm-weight", type=float, default=None, help="SLiM ablation: MFM loss weight")
    ap.add_argument("--glcl-weight", type=float, default=None, help="SLiM ablation: GLCL loss weight")
    ap.add_argument("--temperature", type=float, default=None, help="SLiM ablation: contrastive temperature")
    ap.add_argument("--augment", choices=["default", "nolimb", "rotation"], default="default",
                    help="SLiM ablation: default pipeline, without limb perturbation, or rotation only")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (1 avoids OpenMP stalls when other jobs share the cores)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not DATA.is_dir():
        sys.exit(f"NW-UCLA not found at {DATA}")
    torch.manual_seed(args.seed)
    ds = load(DATA)
    train, test = ds.subset("train"), ds.subset("test")
    ytr, yte = np.asarray(train.labels), np.asarray(test.labels)
    seqs_tr = [train[i][0] for i in range(len(train))]
    seqs_te = [test[i][0] for i in range(len(test))]
    # NW-UCLA's protocol is cross-view, so every model (and the raw floor) sees view-aligned skeletons.
    cfg = getattr(SLiMConfig, args.preset)(layout="kinect20", max_persons=1, view_align=True)
    common = {"preset": args.preset, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
              "seed": args.seed, "machine": machine()}
    print(json.dumps({"figure": "setup", "config": cfg.to_dict(), **common}), flush=True)
    todo = set(args.only or ["raw", "random", "slim", "slim_random", "mae"])
    rows = []
    if "raw" in todo:
        rows += evaluate("raw coordinates", raw_features(seqs_tr, cfg), raw_features(seqs_te, cfg), ytr, yte,
                         {"preset": "-", "steps": 0, "machine": common["machine"]})
    if "random" in todo:
        enc = SLiMEncoder(cfg)
        rows += evaluate("random init (slimkit encoder)", enc.embed(seqs_tr), enc.embed(seqs_te), ytr, yte,
                         {**common, "steps": 0})
    ablation = {k: v for k, v in (("mfm_weight", args.mfm_weight), ("glcl_weight", args.glcl_weight),
                                  ("temperature", args.temperature)) if v is not None}
    aug = {"default": "default",
           "nolimb": default_augmentation("kinect20", limb_angle=0),
           "rotation": default_augmentation("kinect20", limb_angle=0, mirror_p=0, jitter=0, scale=(1.0, 1.0))}
    for name, mask_type in (("slim", "semantic_tube"), ("slim_random", "random")):
        if name not in todo:
            continue
        c = cfg.replace(mask_type=mask_type, **ablation)
        t0 = time.perf_counter()
        tr = Trainer(c, seqs_tr, output_dir=Path(args.out) / name, batch_size=args.batch_size, lr=args.lr,
                     max_steps=args.steps, epochs=math.ceil(args.steps / (len(seqs_tr) // args.batch_size)),
                     seed=args.seed, show_progress_bar=False, save_every=max(args.steps // 4, 1),
                     augmentation=aug[args.augment],
                     data_description="NW-UCLA train views 1+2 (1,020 sequences), labels unused")
        tr.fit()
        secs = time.perf_counter() - t0
        enc = tr.encoder.eval()
        label = "SLiM (semantic tube masking)" if name == "slim" else "SLiM with random token masking"
        if ablation or args.augment != "default":
            label += " [" + ", ".join([f"{k}={v}" for k, v in ablation.items()] + [f"augment={args.augment}"]) + "]"
        got = evaluate(label, enc.embed(seqs_tr), enc.embed(seqs_te), ytr, yte,
                       {**common, "pretrain_seconds": round(secs, 1)})
        rows += got
        # keep the encoder with its measured numbers on its card (the packaged model comes from here)
        enc.card_info["results"] = {f"NW-UCLA cross-view {r['metric'].replace('_', ' ')}": f"{r['value']} %"
                                    for r in got}
        enc.card_info["protocol"] = (f"Pretrained {args.steps} steps x batch {args.batch_size} (seed {args.seed}) "
                                     f"by `python benchmarks/quality.py`; " + " / ".join(r["protocol"] for r in got))
        enc.save_pretrained(Path(args.out) / name / "final")
    if "mae" in todo:
        mc = (mae_small if args.preset == "small" else mae_tiny)(
            encoder=cfg.replace(token_groups="joint", t_patch=4))
        torch.manual_seed(args.seed)
        model = MAEPretrainer(mc)
        secs = train_mae(model, seqs_tr, args.steps, args.batch_size, args.lr, args.seed)
        enc = model.encoder.eval()
        rows += evaluate("MAE-style baseline (MAMP geometry, 90% masking, decoder)", enc.embed(seqs_tr),
                         enc.embed(seqs_te), ytr, yte, {**common, "pretrain_seconds": round(secs, 1)})
    print("\n| model | kNN top-1 (%) | linear top-1 (%) |\n|---|---|---|")
    for m in dict.fromkeys(r["model"] for r in rows):
        v = {r["metric"]: r["value"] for r in rows if r["model"] == m}
        print(f"| {m} | {v.get('knn_top1', '-')} | {v.get('linear_top1', '-')} |")


if __name__ == "__main__":
    main()
