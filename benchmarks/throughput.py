"""Embedding throughput (sequences/s): slimkit vs the MAE-style baseline, same inputs, batch size and device.

Both models embed the same raw 2-person 120-frame sequences through the same ``SLiMEncoder.embed()`` (the
baseline's encoder is a joint-token ``SLiMEncoder``), so the figures differ only by the encoder's token count.
Two figures per model: ``embed`` (end to end: preprocessing on the CPU + forward + pooling) and ``forward``
(the encoder on already prepared tensors, i.e. the part a faster data pipeline cannot hide). The models are
timed alternately within each repeat, so drifting load on a shared machine hits both alike; the median of
the repeats is reported, after warm-up (and the best repeat, the least disturbed by other work).

Run:  python benchmarks/throughput.py [--slimkit base --baseline mae_base] [--num 8 --batch-size 8]
      python benchmarks/throughput.py --threads 1            # steadier on a shared CPU
      python benchmarks/throughput.py --device cuda          # bf16 autocast, as embed() does on CUDA
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines.env import emit, machine_info  # noqa: E402
from benchmarks.baselines.mae import PRESETS, MAEPretrainer  # noqa: E402
from slimkit import SLiMConfig, SLiMEncoder  # noqa: E402


def raw_sequences(n: int, frames: int = 120, persons: int = 2, joints: int = 25, seed: int = 0) -> np.ndarray:
    """``(n, persons, frames, joints, 3)`` smooth random skeleton sequences (metres-like scale, no zeros)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=0.3, size=(n, persons, 1, joints, 3))
    steps = rng.normal(scale=0.01, size=(n, persons, frames, joints, 3)).cumsum(axis=2)
    return (base + steps + 0.01).astype(np.float32)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call."""
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slimkit", default="base", choices=["tiny", "small", "base"], help="slimkit preset")
    ap.add_argument("--baseline", default="mae_base", choices=sorted(PRESETS), help="baseline preset")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--num", type=int, default=8, help="sequences embedded per repeat")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--frames", type=int, default=120, help="frames of each raw input sequence")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's); 1 gives steadier timings on a busy machine")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")
    torch.manual_seed(0)
    emit("machine", **machine_info(device))
    precision = "bf16" if device.type == "cuda" else "fp32"

    models: dict[str, SLiMEncoder] = {
        f"slimkit-{args.slimkit}": SLiMEncoder(getattr(SLiMConfig, args.slimkit)()),
        f"baseline-{args.baseline}": MAEPretrainer(PRESETS[args.baseline]()).encoder,
    }
    raw = raw_sequences(args.num, args.frames)
    prepared = {name: enc.preprocess(raw).to(device) for name, enc in models.items()}
    for enc in models.values():
        enc.to(device).eval()

    def embed(name: str) -> Callable[[], object]:
        return lambda: models[name].embed(raw, batch_size=args.batch_size, device=device, precision=precision,
                                          show_progress_bar=False)

    def forward(name: str) -> Callable[[], object]:
        enc, x = models[name], prepared[name]

        def run() -> None:
            bf16 = precision == "bf16"
            with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                for s in range(0, len(x), args.batch_size):
                    enc.encode(x[s: s + args.batch_size])

        return run

    times: dict[tuple[str, str], list[float]] = {(m, k): [] for m in models for k in ("embed", "forward")}
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in times}
    for r in range(args.warmup + args.repeats):
        for name in models:
            for kind, make in (("embed", embed), ("forward", forward)):
                t, c = timed(make(name), device)
                if r >= args.warmup:
                    times[(name, kind)].append(t)
                    cpu[(name, kind)].append(c)

    medians: dict[tuple[str, str], float] = {}
    best = {key: min(ts) for key, ts in times.items()}
    cpu_med = {key: statistics.median(cs) for key, cs in cpu.items()}
    for (name, kind), ts in times.items():
        med = statistics.median(ts)
        medians[(name, kind)] = med
        enc = models[name]
        emit("throughput", what=kind, model=name, tokens_per_person=enc.num_tokens(),
             frames=enc.config.num_frames, input_frames=args.frames, persons=2, batch_size=args.batch_size,
             sequences=args.num, repeats=args.repeats, precision=precision,
             sequences_per_s=round(args.num / med, 2), median_s=round(med, 4),
             best_sequences_per_s=round(args.num / min(ts), 2), all_s=[round(t, 4) for t in ts],
             cpu_s_median=round(cpu_med[(name, kind)], 4))
    slim, base = models
    for kind in ("embed", "forward"):
        emit("throughput_speedup", what=kind, slimkit=slim, baseline=base,
             speedup=round(medians[(base, kind)] / medians[(slim, kind)], 2),
             speedup_best=round(best[(base, kind)] / best[(slim, kind)], 2),
             cpu_time_ratio=round(cpu_med[(base, kind)] / cpu_med[(slim, kind)], 2))


if __name__ == "__main__":
    main()
