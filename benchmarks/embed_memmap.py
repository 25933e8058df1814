"""embed() over a memory-mapped array of 100k sequences: memory stays bounded by the batch size.

Writes a (N, 1, T, V, 3) float32 .npy of smooth random walks, opens it with mmap_mode="r" and embeds it with a
tiny encoder. Prints one JSON line: sequences/s and the growth of *anonymous* resident memory (RssAnon), which
excludes the file-backed pages of the memory map that the kernel can drop at will.

    python benchmarks/embed_memmap.py --n 100000
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

from slimkit import SLiMConfig, SLiMEncoder


def rss_anon_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    torch.manual_seed(0)
    enc = SLiMEncoder(SLiMConfig.tiny(layout="kinect20")).eval()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.npy")
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(args.n, 1, args.frames, 20, 3))
        rng = np.random.default_rng(0)
        for s in range(0, args.n, 10_000):
            e = min(s + 10_000, args.n)
            arr[s:e] = rng.normal(0.02, 0.05, size=(e - s, 1, args.frames, 20, 3)).cumsum(2) + 0.1
        arr.flush()
        del arr
        mm = np.load(path, mmap_mode="r")
        enc.embed(mm[:64])  # warm-up
        before = rss_anon_mb()
        t0 = time.perf_counter()
        z = enc.embed(mm, batch_size=args.batch_size, show_progress_bar=False)
        dt = time.perf_counter() - t0
        after = rss_anon_mb()
    print(json.dumps({
        "figure": "embed_memmap", "n": args.n, "file_mb": round(args.n * args.frames * 20 * 3 * 4 / 2**20, 1),
        "output_mb": round(z.nbytes / 2**20, 1), "rss_anon_growth_mb": round(after - before, 1),
        "sequences_per_s": round(args.n / dt, 1), "batch_size": args.batch_size, "preset": "tiny",
        "finite": bool(np.isfinite(z).all()), "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
    }))


if __name__ == "__main__":
    main()
