"""Is the linear probe limited by the readout or by the representation? Readouts of saved encoders, compared.

For each checkpoint folder given (e.g. the 600-step ``slim-ucla-s{0,1,2}/checkpoint-600`` folders written by
``benchmarks/quality.py --out DIR``), on NW-UCLA cross-view (train views 1+2, test view 3) or, with
``--protocol kg``, Kinder-Gator cross-subject, no retraining:

* **pooling of the same token features**: 4 / 8 / 16 time bins, 8 bins + the token mean or max, 4 bins x
  body parts, 8 bins with a LayerNorm per bin;
* **teacher vs student**: the EMA teacher's encoder (``teacher.safetensors``) read out like the student;
* **linear-probe settings** on the default readout: weight decay 1e-3 / 1e-2, 300 epochs, lr 0.01.

kNN (cosine 1-NN) and the linear probe (MAMP's protocol on precomputed features) as in ``quality.py``; one JSON
line per figure, then a table of mean +- std over the checkpoints.

    python benchmarks/readouts.py --threads 1 runs/quality/slim-ucla-s*/checkpoint-600
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import KG, UCLA, Split, machine, mean_std  # noqa: E402
from slimkit import SLiMEncoder, load  # noqa: E402
from slimkit.eval import knn_accuracy, linear_probe  # noqa: E402

PROBES = {"wd 1e-3": {"weight_decay": 1e-3}, "wd 1e-2": {"weight_decay": 1e-2}, "300 epochs": {"epochs": 300},
          "lr 0.01": {"lr": 0.01}}


def tokens(enc: SLiMEncoder, seqs: list[np.ndarray]) -> torch.Tensor:
    """First person's token features ``(N, L, D)``, time-major."""
    t = enc.embed(seqs, output_value="tokens", normalize=False, convert_to_numpy=False, show_progress_bar=False)
    return torch.as_tensor(t)[:, 0]


def readouts(enc: SLiMEncoder, tok: torch.Tensor) -> dict[str, torch.Tensor]:
    n, length, d = tok.shape
    g = enc.num_groups
    per_patch = tok.view(n, length // g, g, d)
    patch_mean = per_patch.mean(2).transpose(1, 2)  # (N, D, P)
    out = {f"{b} time bins": F.adaptive_avg_pool1d(patch_mean, b).transpose(1, 2).reshape(n, -1) for b in (4, 8, 16)}
    out["8 bins + token mean"] = torch.cat([out["8 time bins"], tok.mean(1)], 1)
    out["8 bins + token max"] = torch.cat([out["8 time bins"], tok.amax(1)], 1)
    patch_max = per_patch.amax(2).transpose(1, 2)  # (N, D, P)
    for b in (2, 8):
        out[f"8 bins + max of {b} time bins"] = torch.cat(
            [out["8 time bins"], F.adaptive_max_pool1d(patch_max, b).transpose(1, 2).reshape(n, -1)], 1)
    out["8 bins + token max + token std"] = torch.cat([out["8 bins + token max"], tok.std(1)], 1)
    out["4 bins x body parts"] = F.adaptive_avg_pool2d(per_patch.permute(0, 3, 1, 2), (4, g)).reshape(n, -1)
    out["8 bins, LayerNorm per bin"] = F.layer_norm(out["8 time bins"].view(n, 8, d), (d,)).reshape(n, -1)
    return out


def teacher_of(folder: Path) -> SLiMEncoder:
    enc = SLiMEncoder.from_pretrained(folder)
    state = {k.removeprefix("encoder."): v for k, v in load_file(folder / "teacher.safetensors").items()
             if k.startswith("encoder.")}
    enc.load_state_dict(state)
    return enc.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint folders (config, model, teacher)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--protocol", choices=["ucla", "kg"], default="ucla",
                    help="NW-UCLA cross-view (default) or Kinder-Gator cross-subject (as quality.py)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root, title = (UCLA, "NW-UCLA cross-view") if args.protocol == "ucla" else (KG, "Kinder-Gator cross-subject")
    if not root.is_dir():
        sys.exit(f"data not found: {root} (see ../shared/data/README.md)")
    ds = load(root)
    sp = Split(title, ds.subset("train"), ds.subset("test"))
    res: dict[tuple[str, str], list[float]] = defaultdict(list)

    def record(ckpt: Path, name: str, metric: str, value: float) -> None:
        res[(name, metric)].append(value)
        print(json.dumps({"figure": "readout", "checkpoint": str(ckpt), "readout": name, "metric": metric,
                          "value": round(value, 2)}), flush=True)

    for ckpt in args.checkpoints:
        student = SLiMEncoder.from_pretrained(ckpt).eval()
        for who, enc in (("student", student), ("teacher", teacher_of(ckpt))):
            feats_tr, feats_te = readouts(enc, tokens(enc, sp.xtr)), readouts(enc, tokens(enc, sp.xte))
            names = list(feats_tr) if who == "student" else ["8 time bins"]
            for name in names:
                a, b = feats_tr[name].numpy(), feats_te[name].numpy()
                label = name if who == "student" else f"teacher, {name}"
                record(ckpt, label, "knn", 100 * float(knn_accuracy(a, sp.ytr, b, sp.yte, k=1)))
                record(ckpt, label, "linear", 100 * float(linear_probe(a, sp.ytr, b, sp.yte, augment=False, seed=0)))
                if who == "student" and name == "8 time bins":
                    for probe, kw in PROBES.items():
                        record(ckpt, f"8 time bins, probe {probe}", "linear",
                               100 * float(linear_probe(a, sp.ytr, b, sp.yte, augment=False, seed=0, **kw)))
    print(f"\nReadouts of {len(args.checkpoints)} checkpoint(s) on {sp.name}; {machine()}")
    print("| readout | kNN top-1 (%) | linear top-1 (%) |\n|---|---|---|")
    for name in dict.fromkeys(n for n, _ in res):
        knn = mean_std(res[(name, "knn")]) if (name, "knn") in res else "-"
        print(f"| {name} | {knn} | {mean_std(res[(name, 'linear')])} |")


if __name__ == "__main__":
    main()
