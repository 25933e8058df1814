"""Pretrain a small SLiM encoder on your own unlabelled skeletons, then embed with it.

    python examples/pretrain_own_data.py --out runs/demo --steps 40                       # generated data
    python examples/pretrain_own_data.py --data my_set.npy --layout coco17 --out runs/mine --steps 2000

``--data`` is a ``.npy`` batch ``(N, M, T, V, C)`` (a 4-D array is read as *one* sequence ``(M, T, V, C)``;
for a batch of single-person sequences ``(N, T, V, C)`` pass ``--input-format NTVC``), or any file
``slimkit.load`` reads.
Training is resumable: run the same command again and it continues from the newest checkpoint in ``--out``.
The tiny preset runs on a CPU; use ``SLiMConfig.base`` and a GPU for real pretraining.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import slimkit
from slimkit import SLiMConfig, SLiMEncoder, Trainer


def generated_data(path: Path, layout: str = "ntu25", n: int = 64, t: int = 48, seed: int = 0) -> Path:
    """Smooth random motion ``(N, M=1, T, V, 3)``, enough to exercise the training loop."""
    rng = np.random.default_rng(seed)
    v = slimkit.get_layout(layout).num_joints
    base = rng.normal(scale=0.3, size=(n, 1, v, 3))
    motion = rng.normal(scale=0.02, size=(n, t, v, 3)).cumsum(axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, (base + motion)[:, None].astype(np.float32))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="training data (default: generate some)")
    parser.add_argument("--layout", default="ntu25", help="joint layout of the data")
    parser.add_argument("--input-format", default="auto", help="axis order of a .npy, e.g. NTVC")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="checkpoints and the final model")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)

    data_path = args.data or generated_data(args.out / "train.npy", args.layout)
    extra = {"input_format": args.input_format} if data_path.suffix == ".npy" else {}
    data = slimkit.load(data_path, layout=args.layout, **extra)
    print(f"training on {len(data)} sequences ({data.layout}) from {data_path}")

    trainer = Trainer(
        SLiMConfig.tiny(layout=data.layout),
        data,
        output_dir=args.out,
        epochs=1000,  # the schedule's horizon; max_steps stops earlier
        batch_size=args.batch_size,
        max_steps=args.steps,
        device="cpu",
        seed=0,
    )
    record = trainer.fit()
    print(f"step {trainer.global_step}: loss {record['loss']:.4f}")

    trainer.encoder.save_pretrained(args.out / "encoder")
    encoder = SLiMEncoder.from_pretrained(args.out / "encoder")
    z = encoder.embed(data)
    print(
        f"saved {args.out / 'encoder'}; embeddings {z.shape}, "
        f"mean cosine to the first: {float((z @ z[0]).mean()):.3f}"
    )


if __name__ == "__main__":
    main()
