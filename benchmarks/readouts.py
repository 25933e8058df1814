"""Is the linear probe limited by the readout or by the representation? Readouts of saved encoders, compared.

For each checkpoint folder given (e.g. the 600-step ``slim-ucla-s{0,1,2}/checkpoint-600`` folders written by
``benchmarks/quality.py --out DIR``), on NW-UCLA cross-view (train views 1+2, test view 3) or, with
``--protocol kg``, Kinder-Gator cross-subject, no retraining:

* **pooling of the same token features**: 2 / 4 / 8 / 16 time bins, 8 bins + the token mean, 2 / 4 / 8 bins
  + the token max (8: the default ``time_max``), the token max alone, 4 bins x body parts, 8 bins with a
  LayerNorm per bin;
* **teacher vs student**: the EMA teacher's encoder (``teacher.safetensors``) read out like the student;
* **linear-probe settings** on the default readout: weight decay 1e-3 / 1e-2, 300 epochs, lr 0.01;
* **whitening** of the default readout (PCA whitening fitted on the train split's embeddings, shrinkage 0.01 of
  the largest eigenvalue), a post-processing any embedding can get;
* with ``--floors SEED ...``: the same readouts of randomly initialised encoders (those seeds) and raw
  coordinates (plain and whitened), so that every readout is compared with its own floors.

kNN (cosine 1-NN) and the linear probe (MAMP's protocol on precomputed features) as in ``quality.py``; one JSON
line per figure, then a table of mean +- std over the checkpoints.

    python benchmarks/readouts.py --threads 1 runs/quality/slim-ucla-s*/checkpoint-600
    python benchmarks/readouts.py --threads 1 --protocol kg runs/quality/slim-ucla+kg-s*/checkpoint-600 \
        --floors 0 1 2 --only "8 bins + token max" "4 bins + token max"
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import KG, UCLA, Split, machine, mean_std, raw_features  # noqa: E402
from slimkit import SLiMConfig, SLiMEncoder, load  # noqa: E402
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
    out = {f"{b} time bins": F.adaptive_avg_pool1d(patch_mean, b).transpose(1, 2).reshape(n, -1) for b in (2, 4, 8, 16)}
    out["8 bins + token mean"] = torch.cat([out["8 time bins"], tok.mean(1)], 1)
    for b in (2, 4, 8):
        out[f"{b} bins + token max"] = torch.cat([out[f"{b} time bins"], tok.amax(1)], 1)
    out["token max alone"] = tok.amax(1)
    patch_max = per_patch.amax(2).transpose(1, 2)  # (N, D, P)
    for b in (2, 8):
        out[f"8 bins + max of {b} time bins"] = torch.cat(
            [out["8 time bins"], F.adaptive_max_pool1d(patch_max, b).transpose(1, 2).reshape(n, -1)], 1)
    out["8 bins + token max + token std"] = torch.cat([out["8 bins + token max"], tok.std(1)], 1)
    out["4 bins x body parts"] = F.adaptive_avg_pool2d(per_patch.permute(0, 3, 1, 2), (4, g)).reshape(n, -1)
    out["8 bins, LayerNorm per bin"] = F.layer_norm(out["8 time bins"].view(n, 8, d), (d,)).reshape(n, -1)
    return out


def whiten(train: np.ndarray, test: np.ndarray, shrink: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """PCA whitening fitted on ``train`` (eigenvalues floored at ``shrink`` x the largest), applied to both."""
    mu = train.mean(0)
    w, v = np.linalg.eigh(np.cov((train - mu).T))
    scale = 1.0 / np.sqrt(np.clip(w, 0.0, None) + shrink * w.max())
    return (train - mu) @ v * scale, (test - mu) @ v * scale


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
    ap.add_argument("--floors", type=int, nargs="*", default=[], metavar="SEED",
                    help="also read out random-init encoders of these seeds, and raw coordinates")
    ap.add_argument("--only", nargs="*", default=None, metavar="READOUT",
                    help="only these readouts (names as in the table; the probe settings and the teacher come "
                         "with '8 time bins'; the whitened readout with '8 bins + token max')")
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

    def both(ckpt: Any, label: str, a: np.ndarray, b: np.ndarray) -> None:
        record(ckpt, label, "knn", 100 * float(knn_accuracy(a, sp.ytr, b, sp.yte, k=1)))
        record(ckpt, label, "linear", 100 * float(linear_probe(a, sp.ytr, b, sp.yte, augment=False, seed=0)))

    def wanted(name: str) -> bool:
        return args.only is None or name in args.only

    cfg = SLiMConfig.tiny(layout="kinect20", max_persons=1, view_align=True)
    encoders: list[tuple[Any, str, SLiMEncoder]] = []
    for ckpt in args.checkpoints:
        encoders.append((ckpt, "", SLiMEncoder.from_pretrained(ckpt).eval()))
        if wanted("8 time bins"):
            encoders.append((ckpt, "teacher, ", teacher_of(ckpt)))
    for seed in args.floors:
        torch.manual_seed(seed)
        encoders.append((f"random init, seed {seed}", "random init, ", SLiMEncoder(cfg).eval()))
    for ckpt, prefix, enc in encoders:
        feats_tr, feats_te = readouts(enc, tokens(enc, sp.xtr)), readouts(enc, tokens(enc, sp.xte))
        names = [n for n in feats_tr if wanted(n)] if prefix != "teacher, " else ["8 time bins"]
        for name in names:
            a, b = feats_tr[name].numpy(), feats_te[name].numpy()
            both(ckpt, prefix + name, a, b)
            if name == "8 bins + token max":
                both(ckpt, prefix + name + ", whitened", *whiten(a, b))
            if not prefix and name == "8 time bins":
                for probe, kw in PROBES.items():
                    record(ckpt, f"8 time bins, probe {probe}", "linear",
                           100 * float(linear_probe(a, sp.ytr, b, sp.yte, augment=False, seed=0, **kw)))
    if args.floors:  # the model's own preprocessing, flattened
        a, b = raw_features(sp.xtr, cfg), raw_features(sp.xte, cfg)
        both("raw", "raw coordinates (view-aligned)", a, b)
        both("raw", "raw coordinates (view-aligned), whitened", *whiten(a, b))
    print(f"\nReadouts of {len(args.checkpoints)} checkpoint(s)"
          + (f" and {len(args.floors)} random-init encoder(s)" if args.floors else "") + f" on {sp.name}; {machine()}")
    print("| readout | kNN top-1 (%) | linear top-1 (%) |\n|---|---|---|")
    for name in dict.fromkeys(n for n, _ in res):
        knn = mean_std(res[(name, "knn")]) if (name, "knn") in res else "-"  # one raw row: std 0
        print(f"| {name} | {knn} | {mean_std(res[(name, 'linear')])} |")


if __name__ == "__main__":
    main()
