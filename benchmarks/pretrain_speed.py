"""Pretraining throughput of slimkit's Trainer: one JSON line per (preset, batch size).

Measures whole optimizer steps as ``Trainer.fit()`` runs them (loading, views, augmentation, masking, teacher
and student passes, backward, AdamW, EMA), from the ``samples_per_s`` the trainer logs, skipping the first
``--warmup`` steps. Data: synthetic 2-person ``ntu25`` random walks of 60-150 frames.

    python benchmarks/pretrain_speed.py --presets tiny small --batch-size 32 --steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import torch

from slimkit import SLiMConfig, Trainer


def synthetic(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = int(rng.integers(60, 150))
        base = rng.normal(size=(2, 1, 25, 3))
        out.append((base + rng.normal(scale=0.05, size=(2, t, 25, 3)).cumsum(1) + 0.01).astype(np.float32))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"], choices=["tiny", "small", "base"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10, help="measured steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default=None)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--num-workers", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    total = args.warmup + args.steps
    data = synthetic(args.batch_size * (total + 1))
    for preset in args.presets:
        cfg = getattr(SLiMConfig, preset)()
        with tempfile.TemporaryDirectory() as d:
            tr = Trainer(
                cfg,
                data,
                output_dir=d,
                epochs=1,
                batch_size=args.batch_size,
                max_steps=total,
                log_every=args.warmup,
                save_every=10**9,
                device=args.device,
                precision=args.precision,
                num_workers=args.num_workers,
                show_progress_bar=False,
            )
            t0 = time.perf_counter()
            tr.fit()
            wall = time.perf_counter() - t0
            recs = [json.loads(line) for line in open(os.path.join(d, "metrics.jsonl"))]
        measured = [r for r in recs if "samples_per_s" in r and r["step"] > args.warmup]
        sps = float(np.mean([r["samples_per_s"] for r in measured])) if measured else float("nan")
        dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        print(
            json.dumps(
                {
                    "figure": "pretrain_samples_per_s",
                    "preset": preset,
                    "samples_per_s": round(sps, 2),
                    "step_s": round(args.batch_size / sps, 4),
                    "batch_size": args.batch_size,
                    "measured_steps": args.steps,
                    "views": f"{cfg.num_global_views}x{cfg.num_frames}f + "
                    f"{cfg.num_local_views}x{cfg.local_view_frames}f",
                    "tokens_per_person": tr.encoder.num_tokens(),
                    "mask": f"{cfg.mask_type}@{cfg.mask_ratio}",
                    "device": dev,
                    "precision": args.precision,
                    "torch_threads": torch.get_num_threads(),
                    "num_workers": args.num_workers,
                    "wall_s_incl_setup": round(wall, 1),
                    "torch": torch.__version__,
                    "cpu": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
