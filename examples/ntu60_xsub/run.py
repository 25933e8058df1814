"""Reproduce SLiM's NTU-60 cross-subject linear-probe protocol with slimkit on one GPU.

    python examples/ntu60_xsub/run.py --data /data/NTU60_CS.npz --out runs/ntu60_xsub

``--data`` is the CTR-GCN / MAMP ``NTU60_CS.npz`` (splits ``train`` / ``test``) or pyskl's
``ntu60_3danno.pkl`` (splits ``xsub_train`` / ``xsub_val``). See README.md beside this file for data
preparation, the expected time and the numbers to compare with. ``--max-steps`` and ``--probe-epochs`` shrink
the run for a smoke test (the test suite runs it that way on a tiny generated file).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from slimkit import SLiMConfig, Trainer
from slimkit.data import load
from slimkit.eval import knn_accuracy, linear_probe


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="NTU60_CS.npz (CTR-GCN/MAMP) or ntu60_3danno.pkl (pyskl)")
    ap.add_argument("--out", default="runs/ntu60_xsub")
    ap.add_argument("--preset", choices=["tiny", "small", "base"], default="base")
    ap.add_argument("--epochs", type=int, default=150, help="pretraining epochs (SLiM's release: 150)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--max-steps", type=int, default=None, help="stop early (smoke tests)")
    ap.add_argument("--probe-epochs", type=int, default=100, help="linear probe epochs (MAMP: 100)")
    ap.add_argument("--device", default=None, help="default: CUDA when available")
    args = ap.parse_args(argv)

    ds = load(args.data)
    train_split = "train" if "train" in ds.split else "xsub_train"
    test_split = "test" if "test" in ds.split else "xsub_val"
    train, test = ds.subset(train_split), ds.subset(test_split)
    print(f"{args.data}: {len(train)} train / {len(test)} test sequences, layout {ds.layout}")

    config = getattr(SLiMConfig, args.preset)(layout=ds.layout)
    trainer = Trainer(config, train, output_dir=args.out, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, max_steps=args.max_steps, device=args.device,
                      data_description=f"NTU RGB+D 60 cross-subject train split ({len(train)} sequences), "
                                       "labels unused")
    trainer.fit()  # resumes from --out after an interruption
    enc = trainer.encoder.eval()

    knn = knn_accuracy(train, None, test, None, k=1, encoder=enc, device=args.device)
    lin = linear_probe(train, None, test, None, encoder=enc, epochs=args.probe_epochs, device=args.device)
    results = {"knn_top1": round(100 * float(knn), 2), "linear_top1": round(100 * float(lin), 2),
               "knn_protocol": knn.protocol, "linear_protocol": lin.protocol}
    print(json.dumps(results, indent=2))
    enc.card_info["results"] = {"NTU-60 x-sub kNN top-1": f"{results['knn_top1']} %",
                                "NTU-60 x-sub linear top-1": f"{results['linear_top1']} %"}
    enc.card_info["protocol"] = f"{knn.protocol} / {lin.protocol}"
    enc.save_pretrained(Path(args.out) / "encoder")
    return results


if __name__ == "__main__":
    main()
