"""Draw the documentation's figures into docs/images (run from the repository root).

    python scripts/make_doc_figures.py                 # all figures
    python scripts/make_doc_figures.py --only method   # just the method diagram (needs no data)

* ``slim-method.svg``: the SLiM pretraining diagram of docs/concepts/method.md, drawn with matplotlib so that
  the page needs no JavaScript and no network (a mermaid block would load its script from a CDN);
* ``architecture.svg``: the package map of docs/concepts/architecture.md (needs no data);
* ``nwucla-skeletons.png``: real NW-UCLA sequences (one per action, camera 1) as key-frame strips;
* ``nwucla-retrieval.png``: a real retrieval: a camera-3 NW-UCLA query and its five nearest camera-1/2
  neighbours, embedded by the encoder shipped with slimkit (``slimkit/slim-kinect-tiny``).

The NW-UCLA figures read ``../shared/data/nw-ucla/all_sqe`` (or ``--data``); the data themselves are never
copied into the repository, only these pictures of a few sequences. Output is deterministic (fixed SVG hash
salt, no dates), so rerunning leaves unchanged files unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "slimkit"
matplotlib.rcParams["svg.fonttype"] = "path"

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "nw-ucla" / "all_sqe"


class _Diagram:
    """Boxes and arrows on a blank matplotlib Figure (no pyplot), shared by the method and architecture diagrams.

    ``boxes`` maps a key to ``(x centre, y centre, width, height, text, face colour[, rounded])``.
    """

    def __init__(self, size: tuple[float, float], extent: tuple[float, float], boxes: dict, fontsize: float,
                 gap: float = 0.0, shrink: float = 2.0) -> None:
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

        self.arrow_cls, self.boxes, self.gap, self.shrink = FancyArrowPatch, boxes, gap, shrink
        self.fig = Figure(figsize=size)
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, extent[0])
        self.ax.set_ylim(0, extent[1])
        self.ax.axis("off")
        for x, y, w, h, text, face, *rounded in boxes.values():
            style = "round,pad=0.4,rounding_size=3" if rounded and rounded[0] else "round,pad=0.3,rounding_size=0.8"
            self.ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, fc=face, ec="#444",
                                             lw=1.0))
            self.ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)

    def _side(self, key: str, side: str) -> tuple[float, float]:
        x, y, w, h = self.boxes[key][:4]
        g = self.gap
        ends = {"r": (x + w / 2 + g, y), "t": (x, y + h / 2 + g), "b": (x, y - h / 2 - g), "l": (x - w / 2 - g, y)}
        return ends[side]

    def edge(self, a: str, b: str, label: str = "", dashed: bool = False, rad: float = 0.0,
             side: tuple[str, str] | None = None, at: float = 0.5) -> None:
        s_side, e_side = side or ("r", "l")
        p0, p1 = self._side(a, s_side), self._side(b, e_side)
        self.ax.add_patch(self.arrow_cls(p0, p1, arrowstyle="-|>", mutation_scale=11, lw=1.0, color="#333",
                                         linestyle="--" if dashed else "-", connectionstyle=f"arc3,rad={rad}",
                                         shrinkA=self.shrink, shrinkB=self.shrink))
        if label:
            mx, my = p0[0] + at * (p1[0] - p0[0]), p0[1] + at * (p1[1] - p0[1])
            self.ax.text(mx, my + 0.6, label, ha="center", va="bottom", fontsize=7.5, style="italic", color="#333",
                         bbox=dict(fc="white", ec="none", pad=0.5, alpha=0.85))

    def save(self, path: Path) -> None:
        self.fig.savefig(path, metadata={"Date": None, "Creator": None})


def method_diagram(path: Path) -> None:
    """The teacher-student pretraining flow as boxes and arrows."""
    d = _Diagram((11.0, 5.2), (110, 52), fontsize=8.5, boxes={
        "S": (9, 26, 15, 8, "sequence\n(M, T, V, C)", "#eef1f8", False),
        "G": (30, 36, 17, 8, "global views\nlong crops, augmented", "#eef1f8", False),
        "L": (30, 14, 17, 8, "local views\nshort crops, augmented", "#eef1f8", False),
        "T": (55, 44, 19, 8, "teacher encoder\n(EMA copy of the student)", "#fdf1e3", False),
        "SM": (55, 22, 19, 8, "student encoder", "#e6f4ea", False),
        "P": (55, 6, 17, 6, "light predictor head", "#e6f4ea", False),
        "GLCL": (84, 40, 22, 8, "global-local contrastive:\nsame sequence close, others apart", "#f3e8fb", True),
        "MFM": (84, 12, 22, 8, "masked feature modeling:\npredict the teacher's token features", "#f3e8fb", True),
        "LOSS": (102, 26, 14, 7, "loss = MFM\n+ lambda * GLCL", "#fbe9e9", False),
    })
    d.edge("S", "G")
    d.edge("S", "L")
    d.edge("G", "T", "unmasked")
    d.edge("G", "SM", "semantic tube mask", at=0.45)
    d.edge("L", "SM")
    d.edge("SM", "P", side=("b", "t"))
    d.edge("P", "MFM", "masked tokens", at=0.45)
    d.edge("T", "MFM", "token features", at=0.72)
    d.edge("SM", "GLCL", "pooled, projected", at=0.3)
    d.edge("T", "GLCL", "pooled, projected", at=0.5)
    d.edge("MFM", "LOSS")
    d.edge("GLCL", "LOSS")
    d.edge("LOSS", "P", "gradients to the student only", dashed=True, rad=-0.35, side=("b", "r"), at=0.55)
    d.edge("SM", "T", "EMA", dashed=True, side=("t", "b"))
    d.save(path)


def architecture_diagram(path: Path) -> None:
    """The package map of docs/concepts/architecture.md: one box per subpackage, arrows = allowed imports."""
    core, infer, side = "#eef1f8", "#e6f4ea", "#fdf1e3"
    d = _Diagram((11.0, 5.0), (110, 50), fontsize=7.8, gap=0.3, shrink=1.0, boxes={
        "layouts": (8.5, 32, 15, 8, "layouts\njoint orders,\nconversion", core),
        "pre": (25, 32, 15, 8, "preprocessing\nmissing joints,\npadding, resampling", core),
        "data": (41.5, 32, 15, 8, "data/\nreaders,\nSkeletonDataset", core),
        "tf": (58, 32, 15, 8, "transforms/\nmasks, augmentations,\ncrops", core),
        "model": (74.5, 32, 15, 8, "model\nSLiMEncoder\n(embed, encode)", core),
        "losses": (91, 32, 15, 8, "losses\nMFM, GLCL", core),
        "train": (101.5, 14, 15, 8, "train/\nPretrainStep,\nTrainer", core),
        "hub": (74.5, 46, 15, 5.5, "hub: config + state dict", side),
        "ret": (58, 14, 15, 8, "retrieval/\nRetriever (faiss)", infer),
        "eval": (80, 14, 15, 8, "eval/\nkNN, linear probe,\nfine-tuning", infer),
        "cli": (22, 14, 26, 8, "cli/: one module per command,\nbuilt on the public API\nof every layer", side),
    })
    for a, b in (("layouts", "pre"), ("pre", "data"), ("data", "tf"), ("tf", "model"), ("model", "losses")):
        d.edge(a, b)
    d.edge("losses", "train", side=("b", "t"))
    d.edge("model", "ret", side=("b", "t"))
    d.edge("ret", "eval")
    d.edge("eval", "train")  # the Trainer's kNN monitor
    d.edge("hub", "model", dashed=True, side=("b", "t"))
    d.ax.text(30, 44, "an arrow points to the modules that may import it\n"
              "(directly or further along); nothing imports against the arrows",
              ha="center", va="center", fontsize=8.5, style="italic", color="#333")
    d.ax.text(55, 3, "shared below every layer: _utils (atomic writes, argument checks, device, distributed), "
              "_arrays (missing joints, padding, NaN-aware lerp), _version, _integrity",
              ha="center", va="center", fontsize=8.2, color="#333")
    d.save(path)


def _ucla(data: Path):
    from slimkit.data import load

    if not data.is_dir():
        sys.exit(f"--data: {data}: no such folder (NW-UCLA all_sqe); the method diagram needs no data: --only method")
    return load(data)


def nwucla_skeletons(path: Path, data: Path) -> None:
    """One sequence per action from camera 1, each as a strip of key frames."""
    import numpy as np
    from matplotlib.figure import Figure

    from slimkit import SLiMConfig, viz
    from slimkit.preprocessing import standardize

    ds = _ucla(data)
    cfg = SLiMConfig.tiny(layout=ds.layout, view_align=True)  # centred, spine up, shoulders along x
    view = np.asarray(ds.meta["view"]) if "view" in ds.meta else None
    picks = []
    for label in range(ds.num_classes):
        idx = np.flatnonzero((ds.labels == label) & ((view == 1) if view is not None else True))
        picks.append(int(idx[0]))
    fig = Figure(figsize=(9.0, 1.1 * len(picks)))
    rows = len(picks)
    for r, i in enumerate(picks):
        seq, label = ds[i]
        seq = standardize(seq, cfg)
        frames = np.linspace(0, seq.shape[1] - 1, 6).round().astype(int)
        for c, t in enumerate(frames):
            ax = fig.add_subplot(rows, 6, r * 6 + c + 1)
            viz.plot_skeleton(seq[0, t], ds.layout, ax=ax, linewidth=1.5, joint_size=5)
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if c == 0:
                ax.set_ylabel(ds.classes[label], rotation=0, ha="right", va="center", fontsize=9)
            if r == 0:
                ax.set_title(f"{round(100 * c / 5)} %", fontsize=8)
    fig.suptitle("NW-UCLA (real Kinect v1 data, camera 1, centred and turned upright): one sequence per action",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=72, metadata={"Software": None})


def nwucla_retrieval(path: Path, data: Path) -> None:
    """A camera-3 query and its five nearest camera-1/2 neighbours under the shipped encoder."""
    import numpy as np

    from slimkit import Retriever, SLiMEncoder, viz

    ds = _ucla(data)
    enc = SLiMEncoder.from_pretrained("slimkit/slim-kinect-tiny")
    train, test = ds.subset("train"), ds.subset("test")
    r = Retriever(enc.embed_dim)
    r.add(enc.embed(train, show_progress_bar=False), ids=list(range(len(train))), labels=train.labels.tolist())
    qi = int(np.flatnonzero(test.labels == ds.classes.index("sit down"))[0]) if "sit down" in ds.classes else 0
    q, ql = test[qi]
    res = r.search(enc.embed([q], show_progress_bar=False), k=5)
    hits = [train[int(j)][0] for j in res.ids[0]]
    viz.plot_retrieval_grid(
        q, hits, ds.layout, labels=list(res.labels[0]), scores=list(res.scores[0]), query_label=ql,
        class_names=ds.classes, path=None,
        title=f"NW-UCLA query {test.names[qi]} (camera 3)\nand its 5 nearest neighbours from cameras 1-2\n"
        "(encoder: slimkit/slim-kinect-tiny)",
    ).savefig(path, dpi=72, metadata={"Software": None})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="NW-UCLA all_sqe folder")
    ap.add_argument("--only", choices=["method", "architecture", "skeletons", "retrieval"], help="draw one figure")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default: docs/images)")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    jobs = {
        "method": lambda: method_diagram(out / "slim-method.svg"),
        "architecture": lambda: architecture_diagram(out / "architecture.svg"),
        "skeletons": lambda: nwucla_skeletons(out / "nwucla-skeletons.png", args.data),
        "retrieval": lambda: nwucla_retrieval(out / "nwucla-retrieval.png", args.data),
    }
    for name, job in jobs.items():
        if args.only in (None, name):
            job()
            print(f"wrote {name}")


if __name__ == "__main__":
    main()
