"""onnxruntime vs PyTorch eager on the CPU: throughput of the exported encoder, side by side, in one run.

Exports a randomly initialised encoder of ``--preset`` (the cost does not depend on the weights) with
``SLiMEncoder.export("*.onnx")``, then times, on the same prepared batch of ``--batch`` single-person
sequences (layout ``--layout``), the exported graph in onnxruntime (CPU provider) and the same computation in
PyTorch eager (``EmbeddingModule`` under ``torch.inference_mode``), both with ``--threads`` threads. The two
alternate for ``--repeats`` rounds of ``--iters`` calls each, so drifting machine load hits both alike; the
figure is the median round. Also printed: the max abs difference between the two outputs (fp32).

Needs ``pip install 'slimkit[onnx]'``.

Run:  python benchmarks/export_speed.py [--preset base --batch 8 --threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines.env import emit, machine_info  # noqa: E402
from slimkit import SLiMConfig, SLiMEncoder  # noqa: E402
from slimkit.export import EmbeddingModule, prepare  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="base", choices=["tiny", "small", "base"], help="model size")
    ap.add_argument("--layout", default="ntu25", help="joint layout")
    ap.add_argument("--batch", type=int, default=8, help="sequences per call")
    ap.add_argument("--threads", type=int, default=1, help="threads for both runtimes")
    ap.add_argument("--iters", type=int, default=5, help="calls per timed round")
    ap.add_argument("--repeats", type=int, default=5, help="rounds (median reported)")
    args = ap.parse_args()
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    enc = SLiMEncoder(getattr(SLiMConfig, args.preset)(layout=args.layout, max_persons=1)).eval()
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(int(rng.integers(60, 200)), enc.layout.num_joints, 3)).astype(np.float32)
            for _ in range(args.batch)]
    x = prepare(seqs, enc.config)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "encoder.onnx"
        t0 = time.perf_counter()
        enc.export(path)
        export_s = time.perf_counter() - t0
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    module = EmbeddingModule(enc).eval()
    xt = torch.from_numpy(x)

    def run_ort() -> np.ndarray:
        return sess.run(None, {"x": x})[0]

    def run_eager() -> np.ndarray:
        with torch.inference_mode():
            return module(xt).numpy()

    diff = float(np.abs(run_ort() - run_eager()).max())
    times: dict[str, list[float]] = {"onnxruntime": [], "eager": []}
    for _ in range(args.repeats):
        for name, fn in (("onnxruntime", run_ort), ("eager", run_eager)):
            t0 = time.perf_counter()
            for _ in range(args.iters):
                fn()
            times[name].append((time.perf_counter() - t0) / args.iters)
    sps = {k: args.batch / statistics.median(v) for k, v in times.items()}
    emit(
        "export_speed",
        preset=args.preset,
        layout=args.layout,
        batch=args.batch,
        threads=args.threads,
        onnxruntime_seq_per_s=round(sps["onnxruntime"], 2),
        eager_seq_per_s=round(sps["eager"], 2),
        ratio_onnxruntime_over_eager=round(sps["onnxruntime"] / sps["eager"], 3),
        max_abs_diff=diff,
        export_seconds=round(export_s, 1),
        onnxruntime=ort.__version__,
        protocol=f"median of {args.repeats} alternating rounds x {args.iters} calls, fp32, CPU",
        machine=machine_info("cpu"),
    )


if __name__ == "__main__":
    main()
