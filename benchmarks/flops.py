"""Inference and pretraining FLOPs per 2-person sample: slimkit presets vs the MAE-style baseline.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` inside
``torch.nn.attention.sdpa_kernel(SDPBackend.MATH)`` (on CPU the fused attention kernel counts 0 otherwise);
FLOPs = 2 x multiply-accumulates of matmuls, einsums and attention only (norms, GELU and softmax are not
counted, as in MAMP's and SLiM's tables). Every figure comes from one run, so ratios compare like with like.

Run:  python benchmarks/flops.py [--layout ntu25] [--batch 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines.env import emit, machine_info  # noqa: E402
from benchmarks.baselines.mae import PRESETS, MAEPretrainer  # noqa: E402
from slimkit import SLiMConfig, SLiMEncoder  # noqa: E402

PAPER_MAMP_GFLOPS = 28.32  # MAMP's published inference cost per sample
PAPER_REDUCTION = 7.89  # SLiM paper: inference compute reduction over MAE-style methods
AIM_REDUCTION = 10.0
PERSONS = 2


def sample(num_frames: int, batch: int, num_joints: int = 25, seed: int = 0) -> torch.Tensor:
    """Prepared ``(batch, 2, num_frames, V, 3)`` input with both persons present (a smooth random walk)."""
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(batch, PERSONS, num_frames, num_joints, 3, generator=g) * 0.02
    return torch.randn(batch, PERSONS, 1, num_joints, 3, generator=g) + steps.cumsum(2)


def count(fn: Callable[[], object]) -> FlopCounterMode:
    """Run ``fn`` under the MATH attention backend and a FLOP counter."""
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn()
    return counter


def module_flops(counter: FlopCounterMode, pattern: str) -> int:
    """FLOPs attributed to the modules whose qualified names fully match ``pattern``."""
    rx = re.compile(pattern)
    return sum(sum(v.values()) for k, v in counter.get_flop_counts().items() if rx.fullmatch(k))


def gflops_per_sample(flops: int, batch: int) -> float:
    return round(flops / batch / 1e9, 4)


def slimkit_inference(name: str, config: SLiMConfig, batch: int) -> float:
    enc = SLiMEncoder(config).eval()
    x = sample(config.num_frames, batch, enc.layout.num_joints)
    with torch.no_grad():
        flops = count(lambda: enc.encode(x)).get_total_flops()
    g = gflops_per_sample(flops, batch)
    emit("inference_gflops", model=f"slimkit-{name}", layout=config.layout, token_groups=config.token_groups,
         frames=config.num_frames, t_patch=config.t_patch, tokens_per_person=enc.num_tokens(), dim=config.dim,
         depth=config.depth, persons=PERSONS, gflops_per_sample=g,
         params=sum(p.numel() for p in enc.parameters()))
    return g


def baseline(name: str, batch: int) -> float:
    """Baseline FLOPs at inference (full sequence) and pretraining (visible tokens + decoder).

    Returns the inference GFLOPs per sample."""
    model = MAEPretrainer(PRESETS[name]())
    c = model.config.encoder
    x = sample(c.num_frames, batch)
    model.eval()
    with torch.no_grad():
        inf = gflops_per_sample(count(lambda: model.encoder.encode(x)).get_total_flops(), batch)
    emit("inference_gflops", model=f"baseline-{name}", layout=c.layout, token_groups="joint",
         frames=c.num_frames, t_patch=c.t_patch, tokens_per_person=model.num_tokens, dim=c.dim, depth=c.depth,
         persons=PERSONS,
         gflops_per_sample=inf, params=sum(p.numel() for p in model.encoder.parameters()))
    model.train()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        fwd = count(lambda: model(x, generator=gen))
    enc_blocks = module_flops(fwd, r"MAEPretrainer\.encoder\.blocks\.\d+")
    decoder = module_flops(fwd, r"MAEPretrainer\.decoder_(embed|blocks\.\d+|pred)")
    emit("pretrain_forward_gflops", model=f"baseline-{name}", visible_tokens_per_person=model.num_visible,
         decoder_tokens_per_person=model.num_tokens, decoder_depth=model.config.decoder_depth,
         decoder_dim=model.config.decoder_dim, persons=PERSONS,
         encoder_blocks_gflops_per_sample=gflops_per_sample(enc_blocks, batch),
         decoder_gflops_per_sample=gflops_per_sample(decoder, batch),
         total_gflops_per_sample=gflops_per_sample(fwd.get_total_flops(), batch),
         inference_over_pretrain_encoder=round(inf / max(gflops_per_sample(enc_blocks, batch), 1e-12), 2))
    step = count(lambda: model(x, generator=gen).loss.backward())
    emit("pretrain_step_gflops", model=f"baseline-{name}", what="forward + backward of one loss, per sample",
         gflops_per_sample=gflops_per_sample(step.get_total_flops(), batch))
    return inf


def slimkit_pretrain(name: str, config: SLiMConfig, batch: int) -> None:
    """FLOPs of one slimkit pretraining step (``slimkit.train.PretrainStep``: forward + backward), when slimkit's
    training package exists."""
    missing = [m for m in ("slimkit.train",) if importlib.util.find_spec(m) is None]
    if missing:
        emit("pretrain_step_gflops", model=f"slimkit-{name}", skipped=True,
             reason=f"{' and '.join(missing)} not in this checkout yet")
        return
    from benchmarks.pretrain_step import slimkit_step_fn  # shares the step with the timing script

    try:
        step_fn, describe = slimkit_step_fn(config, batch, device=torch.device("cpu"))
    except Exception as e:  # noqa: BLE001 - an API mismatch must not hide the other figures
        emit("pretrain_step_gflops", model=f"slimkit-{name}", skipped=True,
             reason=f"could not build slimkit's step: {type(e).__name__}: {e}")
        return
    step_fn()  # warm-up outside the counter (lazy buffers, first EMA copy)
    flops = count(step_fn).get_total_flops()
    emit("pretrain_step_gflops", model=f"slimkit-{name}", what=describe,
         gflops_per_sample=gflops_per_sample(flops, batch))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layout", default="ntu25")
    ap.add_argument("--batch", type=int, default=2, help="samples per counted pass (FLOPs are per sample)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    emit("machine", **machine_info("cpu"))

    presets = {"tiny": SLiMConfig.tiny, "small": SLiMConfig.small, "base": SLiMConfig.base}
    slim = {name: slimkit_inference(name, make(layout=args.layout), args.batch)
            for name, make in presets.items()}
    slimkit_inference("default-config", SLiMConfig(layout=args.layout), args.batch)
    for name in ("mae_tiny", "mae_small"):
        baseline(name, args.batch)
    mae = baseline("mae_base", args.batch)

    budget = PAPER_MAMP_GFLOPS / PAPER_REDUCTION
    ratio = mae / slim["base"]
    emit("inference_reduction", baseline="baseline-mae_base", slimkit="slimkit-base (the default preset)",
         baseline_gflops=mae, slimkit_gflops=slim["base"], ratio=round(ratio, 2),
         budget_gflops=round(budget, 2), within_budget="pass" if slim["base"] <= budget else "fail",
         paper_ratio=PAPER_REDUCTION, aim_ratio=AIM_REDUCTION,
         meets_aim="pass" if ratio >= AIM_REDUCTION else "fail")
    for name, make in presets.items():
        slimkit_pretrain(name, make(layout=args.layout), args.batch)


if __name__ == "__main__":
    main()
