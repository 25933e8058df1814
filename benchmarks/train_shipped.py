"""Train the Kinect model that ships inside the package (``slimkit/slim-kinect-tiny``).

Pretrains the tiny preset with the default recipe (clean-view contrast, time-ordered pooling, semantic tube
masking) on every Kinect-layout sequence found under ``../shared/data`` (labels unused): NW-UCLA (all 1,484)
and Kinder-Gator (all 927), plus the motion-capture sets HDM05 and Bandai-Namco converted to ``kinect20``
when their readers are available. Sets are sampled in proportion to their sizes unless ``--weights`` says
otherwise. The model's card lists its data, its recipe and the figures of the same recipe under the clean
protocols of ``benchmarks/quality.py`` (passed with ``--results``), since this model has seen the
test sequences of those protocols (without labels).

    python benchmarks/train_shipped.py --threads 1 --steps 1500 --out slimkit/pretrained/slim-kinect-tiny \
        --results benchmarks/shipped_kinect_results.json

Rerun with the same ``--work`` to rewrite only the card (the finished run resumes at its end); write it to a
new ``--out`` folder, since ``save_pretrained`` keeps a card that is already there.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import parse_set_value  # noqa: E402
from slimkit import SLiMConfig, Trainer  # noqa: E402
from slimkit.data import load  # noqa: E402
from slimkit.transforms import default_augmentation  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {
    "NW-UCLA": DATA / "nw-ucla" / "all_sqe",
    "Kinder-Gator": DATA / "kinder-gator",
    "HDM05": DATA / "hdm05",
    "Bandai-Namco": DATA / "bandai-namco" / "data",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mirror-p", type=float, default=0.5)
    ap.add_argument("--bone-length", type=float, default=0.2, help="RandomBoneLength max_change (default 0.2; 0: off)")
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    ap.add_argument("--results", default=None, help="JSON file: card results {name: value} measured elsewhere")
    ap.add_argument("--work", default="runs/shipped")
    ap.add_argument("--out", default="runs/shipped/final")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {k: parse_set_value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    cfg = SLiMConfig.tiny(layout="kinect20", max_persons=1, view_align=True, **overrides)
    corpus, names = [], []
    for name in args.sets:
        path = SETS[name]
        if not path.exists():
            print(f"skipping {name}: not found at {path}", file=sys.stderr)
            continue
        try:
            ds = load(path)
        except (ValueError, TypeError) as e:  # e.g. no reader for the format in this version
            print(f"skipping {name}: {e}", file=sys.stderr)
            continue
        if ds.layout != cfg.layout:
            ds = ds.to_layout(cfg.layout)
        corpus.append(ds)
        names.append(f"{name} ({len(ds)})")
    if not corpus:
        sys.exit(f"no data found under {DATA}")
    description = " + ".join(names) + " sequences, labels unused, converted to kinect20"
    spe = sum(len(d) for d in corpus) // args.batch_size
    tr = Trainer(cfg, corpus, output_dir=args.work, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                 epochs=math.ceil(args.steps / spe), max_steps=args.steps, show_progress_bar=False,
                 save_every=500, augmentation=default_augmentation(cfg.layout, mirror_p=args.mirror_p,
                                                                       bone_length=args.bone_length),
                 data_description=description)
    t0 = time.process_time()
    out = tr.fit()  # a finished run in --work resumes at its end: rerun with --results to rewrite the card only
    cpu = time.process_time() - t0
    cpu_file = Path(args.work) / "pretrain_cpu_seconds.json"
    if cpu > 60 or not cpu_file.is_file():
        cpu_file.write_text(json.dumps({"cpu_seconds": cpu, "steps": tr.global_step}))
    cpu = json.loads(cpu_file.read_text())["cpu_seconds"]
    enc = tr.encoder.eval()
    if args.results:
        info = json.loads(Path(args.results).read_text())
        enc.card_info["results"] = info["results"]
        enc.card_info["protocol"] = info.get("protocol", "")
    enc.card_info["notes"] = (
        f"Pretrained with `python benchmarks/train_shipped.py --steps {args.steps} --seed {args.seed}"
        + (f" --bone-length {args.bone_length:g}" if args.bone_length != ap.get_default("bone_length") else "")
        + (f" --set {' '.join(args.set)}" if args.set else "") + "` "
        + f"({tr.global_step} steps x batch {args.batch_size}, AdamW lr {args.lr:g}, default recipe: contrastive "
        f"queries from clean global views, pooling '{cfg.pooling}' ({cfg.time_bins} time bins"
        + (" + the token max" if cfg.pooling == "time_max" else "") + f"), semantic tube masking for MFM"
        f"{' on batch-centred targets' if cfg.mfm_target_center else ''}, drop path {cfg.drop_path:g}, "
        f"mirror p {args.mirror_p}, bone-length change {args.bone_length:g}); {cpu / 60:.1f} CPU "
        "minutes. This model has seen every sequence "
        "of the sets above (without labels): judge it on data it has not seen."
    )
    enc.save_pretrained(args.out)
    print(json.dumps({"figure": "shipped", "out": args.out, "steps": tr.global_step, "loss": out.get("loss"),
                      "cpu_min": round(cpu / 60, 2), "data": description}))


if __name__ == "__main__":
    main()
