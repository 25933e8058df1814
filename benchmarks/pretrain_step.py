"""One pretraining step: time and peak memory, slimkit (SLiM) vs the MAE-style baseline, same encoder width.

Both steps start from the same batch of cleaned 2-person sequences (``slimkit.train.PretrainDataset`` items,
padded in time by ``slimkit.train.pretrain_collate``) and include making the training views on the device:

* ``slimkit``: ``slimkit.train.PretrainStep``, the very step ``Trainer.fit`` runs on every batch:
  ``num_global_views`` global and ``num_local_views`` local temporal crops, each augmented, one mask per global
  view; EMA teacher on the unmasked global views; student on the masked global and the local views; MFM + GLCL
  loss; backward, gradient clipping, AdamW (``slimkit.train.make_optimizer``), EMA update.
* ``baseline``: MAMP's step: one crop of ``U[0.5, 1]`` of the valid frames resampled to 120 frames, random
  rotation, motion-aware 90 % masking, encoder on the 10 % visible tokens, 3-block decoder on all 750, masked
  MSE; backward, AdamW.
* ``slimkit-trainer``: ``Trainer.fit(max_steps=...)`` end to end (data loader included), step time from the
  trainer's own ``samples_per_s`` log; a cross-check of the first line.

Each measurement runs in a fresh subprocess, so one model's allocations cannot hide the other's. Memory is
the rise of the peak resident set (``ru_maxrss``) over the warm-up and timed steps (weights and data are
already resident; gradients, optimizer state and activations are not) on CPU, and
``torch.cuda.max_memory_allocated`` on CUDA. Median step time over the timed steps, after warm-up.

Run:  python benchmarks/pretrain_step.py [--slimkit base --baseline mae_base] [--batch 4 --steps 3]
      python benchmarks/pretrain_step.py --threads 1                      # steadier on a shared CPU
      python benchmarks/pretrain_step.py --device cuda --batch 64          # bf16 autocast, as the Trainer
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.baselines.env import emit, machine_info  # noqa: E402
from benchmarks.baselines.mae import PRESETS, MAEPretrainer  # noqa: E402
from slimkit import SLiMConfig  # noqa: E402

SLIMKIT_PRESETS = {"tiny": SLiMConfig.tiny, "small": SLiMConfig.small, "base": SLiMConfig.base}


def slimkit_trainer_available() -> str | None:
    """``None`` when slimkit's training package is importable, else the reason it is not."""
    missing = [m for m in ("slimkit.train",) if importlib.util.find_spec(m) is None]
    return f"{' and '.join(missing)} not in this checkout" if missing else None


def raw_sequences(n: int, frames: int = 120, persons: int = 2, joints: int = 25, seed: int = 0) -> np.ndarray:
    """``(n, persons, frames, joints, 3)`` smooth random skeleton sequences (no zeros)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=0.3, size=(n, persons, 1, joints, 3))
    steps = rng.normal(scale=0.01, size=(n, persons, frames, joints, 3)).cumsum(axis=2)
    return (base + steps + 0.01).astype(np.float32)


def cleaned_batch(config: SLiMConfig, batch: int, device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x (N, M, T, V, C), lengths, index)`` as the Trainer's data loader yields them."""
    from slimkit.preprocessing import SequenceSource
    from slimkit.train import PretrainDataset, pretrain_collate

    src = SequenceSource(raw_sequences(batch), num_joints=25, channels=config.in_channels)
    ds = PretrainDataset(src, config)
    x, lengths, index = pretrain_collate([ds[i] for i in range(batch)])
    return x.to(device), lengths.to(device), index.to(device)


def slimkit_step_fn(config: SLiMConfig, batch: int, device: torch.device
                    ) -> tuple[Callable[[], None], str]:
    """A closure running one slimkit pretraining step: ``slimkit.train.PretrainStep``, as ``Trainer.fit`` does."""
    from slimkit import SLiMEncoder
    from slimkit.train import PretrainStep, SLiMPretrainModel, make_optimizer
    from slimkit.transforms import PerSampleGenerator, default_augmentation

    c = config
    torch.manual_seed(0)
    model = SLiMPretrainModel(SLiMEncoder(c).to(device).train()).to(device)
    step = PretrainStep(model, augmentation=default_augmentation(c.layout), bf16=device.type == "cuda")
    opt = make_optimizer(model, lr=5e-4, weight_decay=0.05)
    x, lengths, index = cleaned_batch(c, batch, device)
    done = [0]

    def run() -> None:
        gen = PerSampleGenerator(index + done[0] * (1 << 32), seed=0)
        done[0] += 1
        step(x, lengths, gen, opt, momentum=0.996, grad_clip=1.0)

    describe = (f"{c.num_global_views} global ({c.num_frames} frames) + {c.num_local_views} local "
                f"({c.local_view_frames} frames) views, {c.mask_type} mask {c.mask_ratio}, EMA teacher + "
                f"student, MFM + GLCL, AdamW, EMA update")
    return run, describe


def baseline_step_fn(name: str, batch: int, device: torch.device) -> tuple[Callable[[], None], str]:
    """A closure running one MAE-style (MAMP) pretraining step on the same kind of cleaned batch."""
    from slimkit.transforms import PerSampleGenerator, RandomRotation, TemporalCrop

    torch.manual_seed(0)
    model = MAEPretrainer(PRESETS[name]()).to(device).train()
    ec = model.config.encoder
    opt = torch.optim.AdamW(model.parameters(), lr=1.5e-4, weight_decay=0.05,
                            **({"fused": True} if device.type == "cuda" else {}))
    crop, rotate = TemporalCrop(ec.num_frames, 0.5, 1.0), RandomRotation(0.3)
    x, lengths, index = cleaned_batch(ec, batch, device)
    bf16 = device.type == "cuda"
    step = [0]

    def run() -> None:
        gen = PerSampleGenerator(index + step[0] * (1 << 32), seed=0)
        step[0] += 1
        with torch.no_grad():
            view = rotate(crop(x, lengths, generator=gen), generator=gen)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss(view)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    describe = (f"1 view ({ec.num_frames} frames), {model.config.masking} mask {model.config.mask_ratio}: "
                f"encoder on {model.num_visible}/{model.num_tokens} tokens + "
                f"{model.config.decoder_depth}-block decoder on {model.num_tokens}, "
                f"masked {model.config.target} MSE, AdamW")
    return run, describe


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(step: Callable[[], None], device: torch.device, warmup: int, steps: int) -> dict[str, Any]:
    """Time ``steps`` calls after ``warmup``; peak memory over all of them."""
    gc.collect()
    rss0 = _peak_rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        alloc0 = torch.cuda.memory_allocated(device)
    times, cpu_times = [], []
    for i in range(warmup + steps):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
    out: dict[str, Any] = {
        "step_s_median": round(statistics.median(times), 4),
        "step_s_all": [round(t, 4) for t in times],
        # CPU seconds of all threads: less sensitive than wall time to other jobs on a shared machine
        "cpu_s_median": round(statistics.median(cpu_times), 4),
    }
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        out["peak_memory_mib"] = round(peak / 2**20, 1)
        out["peak_memory_over_start_mib"] = round((peak - alloc0) / 2**20, 1)
        out["memory_kind"] = "torch.cuda.max_memory_allocated"
    else:
        rss1 = _peak_rss_mib()
        out["peak_rss_mib"] = round(rss1, 1)
        out["peak_rss_rise_mib"] = round(rss1 - rss0, 1)
        out["memory_kind"] = "ru_maxrss rise over the steps (fresh process)"
    return out


def trainer_end_to_end(config: SLiMConfig, batch: int, device: torch.device, warmup: int, steps: int
                       ) -> dict[str, Any]:
    """Step time as ``Trainer.fit`` logs it (data loader, views, step, EMA), per logged step."""
    from slimkit import Trainer

    n_steps = warmup + steps
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, raw_sequences(batch * n_steps), output_dir=out, epochs=1, batch_size=batch,
                          max_steps=n_steps, log_every=1, save_every=10**6, show_progress_bar=False,
                          device=device, tensorboard=False)
        t0 = time.perf_counter()
        trainer.fit()
        total = time.perf_counter() - t0
    per_step = [batch / r["samples_per_s"] for r in trainer.history if "samples_per_s" in r][warmup:]
    # the whole fit() (model setup, all steps, the final checkpoint) bounds the logged step times from above
    return {"step_s_median": round(statistics.median(per_step), 4),
            "step_s_all": [round(t, 4) for t in per_step], "fit_total_s": round(total, 2),
            "fit_steps": n_steps}


def child(args: argparse.Namespace) -> None:
    """Measure one model in this (fresh) process and print one JSON object."""
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")
    row: dict[str, Any] = {"batch": args.batch, "persons": 2, "input_frames": 120, "device": str(device),
                           "torch_threads": torch.get_num_threads()}
    if args.child == "baseline":
        row["model"] = f"baseline-{args.baseline}"
        fn, row["step"] = baseline_step_fn(args.baseline, args.batch, device)
        row.update(measure(fn, device, args.warmup, args.steps))
    elif args.child == "slimkit":
        row["model"] = f"slimkit-{args.slimkit}"
        fn, row["step"] = slimkit_step_fn(SLIMKIT_PRESETS[args.slimkit](), args.batch, device)
        row.update(measure(fn, device, args.warmup, args.steps))
    else:
        row["model"] = f"slimkit-{args.slimkit}"
        row["step"] = "Trainer.fit end to end (loader + views + step + EMA), from its samples_per_s log"
        row.update(trainer_end_to_end(SLIMKIT_PRESETS[args.slimkit](), args.batch, device, args.warmup,
                                      args.steps))
    print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slimkit", default="base", choices=sorted(SLIMKIT_PRESETS))
    ap.add_argument("--baseline", default="mae_base", choices=sorted(PRESETS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4, help="sequences per step")
    ap.add_argument("--steps", type=int, default=3, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--no-trainer", action="store_true", help="skip the Trainer.fit end-to-end cross-check")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (default: torch's); 1 gives steadier timings on a busy machine")
    ap.add_argument("--child", choices=["slimkit", "baseline", "trainer"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(args)
        return

    emit("machine", **machine_info(args.device))
    reason = slimkit_trainer_available()
    kinds = ["baseline"] if reason else ["slimkit", "baseline"] + ([] if args.no_trainer else ["trainer"])
    if reason:
        emit("pretrain_step", model=f"slimkit-{args.slimkit}", skipped=True, reason=reason)
    rows: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        cmd = [sys.executable, __file__, "--child", kind, "--slimkit", args.slimkit,
               "--baseline", args.baseline, "--device", args.device, "--batch", str(args.batch),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
        if res.returncode != 0:
            emit("pretrain_step", model=kind, failed=True, stderr_tail=res.stderr.strip()[-2000:])
            continue
        rows[kind] = emit("pretrain_step", what=kind, **json.loads(res.stdout.strip().splitlines()[-1]))
    if "slimkit" in rows and "baseline" in rows:
        s, b = rows["slimkit"], rows["baseline"]
        mem = "peak_rss_rise_mib" if "peak_rss_rise_mib" in s else "peak_memory_mib"
        emit("pretrain_step_ratio", slimkit=s["model"], baseline=b["model"],
             baseline_over_slimkit_time=round(b["step_s_median"] / s["step_s_median"], 2),
             baseline_over_slimkit_cpu_time=round(b["cpu_s_median"] / s["cpu_s_median"], 2),
             baseline_over_slimkit_memory=round(b[mem] / max(s[mem], 1e-9), 2), memory_figure=mem)


if __name__ == "__main__":
    main()
