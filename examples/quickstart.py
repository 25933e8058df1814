"""slimkit in one script: embed skeleton sequences, index them, search, and draw what was found.

    python examples/quickstart.py --out quickstart_out

1. loads the pretrained encoder shipped with slimkit (``slimkit.hub.list_pretrained()``), or, when none is
   shipped, a randomly initialised tiny encoder (its neighbours are then only as good as raw motion);
2. reads the NW-UCLA skeletons from ``../shared/data/nw-ucla/all_sqe`` when they are there, else generates a
   few synthetic sequences;
3. embeds every sequence, indexes the cross-view training views (cameras 1 and 2) in a ``Retriever`` and
   searches it with sequences from camera 3;
4. prints the nearest neighbours of a few queries with their labels and the kNN top-1 accuracy over all
   queries, and writes ``retrieval_grid.png`` (a query and its top 5) to ``--out``.

Runs on a CPU in well under a minute.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import slimkit
from slimkit import Retriever, SLiMConfig, SLiMEncoder
from slimkit.hub import list_pretrained

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "nw-ucla" / "all_sqe"


def load_encoder(layout: str) -> SLiMEncoder:
    """A shipped pretrained encoder (one for this layout if there is one), else a random tiny one."""
    # offline, from_pretrained falls back to the copy shipped inside the package
    shipped = [(name, SLiMEncoder.from_pretrained(name)) for name in list_pretrained()]
    shipped.sort(key=lambda item: item[1].config.layout != layout)  # this layout first
    if shipped:
        name, encoder = shipped[0]
        print(f"encoder: {name} (pretrained, {encoder.config.layout}, {encoder.embed_dim}-d)")
        return encoder
    warnings.warn(
        f"no pretrained {layout} encoder ships with this slimkit install; using a RANDOMLY INITIALISED tiny "
        "encoder, so the neighbours below reflect raw motion similarity, not learned features",
        stacklevel=2,
    )
    torch_seed(0)
    return SLiMEncoder(SLiMConfig.tiny(layout=layout))


def torch_seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def synthetic_dataset(per_class: int = 8, seed: int = 0) -> slimkit.SkeletonDataset:
    """Kinect-v1 (kinect20) stick figures doing four simple actions, with camera-style views 1-3."""
    rng = np.random.default_rng(seed)
    # a standing pose, metres, y up (Kinect camera frame)
    rest = np.array(
        [
            [0, 0, 0],
            [0, 0.25, 0],
            [0, 0.5, 0],
            [0, 0.7, 0],  # hip centre, spine, neck, head
            [-0.18, 0.45, 0],
            [-0.22, 0.2, 0],
            [-0.24, -0.02, 0],
            [-0.25, -0.08, 0],  # left arm
            [0.18, 0.45, 0],
            [0.22, 0.2, 0],
            [0.24, -0.02, 0],
            [0.25, -0.08, 0],  # right arm
            [-0.1, -0.05, 0],
            [-0.1, -0.45, 0],
            [-0.1, -0.85, 0],
            [-0.1, -0.9, 0.08],  # left leg
            [0.1, -0.05, 0],
            [0.1, -0.45, 0],
            [0.1, -0.85, 0],
            [0.1, -0.9, 0.08],  # right leg
        ],
        dtype=np.float64,
    )
    classes = ["raise left arm", "raise right arm", "squat", "jump"]
    seqs, labels, names, views = [], [], [], []
    for label in range(len(classes)):
        for i in range(per_class):
            t = int(rng.integers(30, 60))
            phase = np.sin(np.linspace(0, np.pi, t))  # 0 -> 1 -> 0
            seq = np.repeat(rest[None], t, axis=0)
            if label in (0, 1):  # swing the arm up around the shoulder
                s, arm = (4, [5, 6, 7]) if label == 0 else (8, [9, 10, 11])
                ang = phase * np.pi * rng.uniform(0.6, 0.9) * (-1 if label == 0 else 1)
                rel = seq[:, arm] - seq[:, [s]]
                x, y = rel[..., 0], rel[..., 1]
                c, sn = np.cos(ang)[:, None], np.sin(ang)[:, None]
                seq[:, arm, 0] = seq[:, [s], 0] + c * x - sn * y
                seq[:, arm, 1] = seq[:, [s], 1] + sn * x + c * y
            elif label == 2:  # lower everything above the knees, knees forward
                drop = phase * rng.uniform(0.25, 0.4)
                upper = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16]
                seq[:, upper, 1] -= drop[:, None]
                seq[:, [13, 17], 2] -= drop[:, None]
                seq[:, [13, 17], 1] -= drop[:, None] / 2
            else:  # jump: the whole body up and down
                seq[..., 1] += (phase * rng.uniform(0.2, 0.35))[:, None]
            view = i % 3 + 1
            yaw = (view - 2) * 0.6 + rng.normal(scale=0.05)  # cameras at -35, 0, +35 degrees
            rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
            seq = seq @ rot.T + np.array([0, 0, 3.0]) + rng.normal(scale=0.01, size=seq.shape)
            seqs.append(seq.astype(np.float32))
            labels.append(label)
            names.append(f"{classes[label].replace(' ', '_')}_{i:02d}_v{view:02d}")
            views.append(view)
    views = np.array(views)
    split = {"train": np.flatnonzero(views < 3), "test": np.flatnonzero(views == 3)}
    return slimkit.SkeletonDataset(seqs, labels, names, layout="kinect20", split=split, classes=classes)


def load_data(folder: Path, limit: int | None) -> slimkit.SkeletonDataset:
    if folder.is_dir():
        ds = slimkit.load(folder)  # NW-UCLA: kinect20 joints, 10 actions, cross-view train/test split
        print(f"data: {len(ds)} NW-UCLA sequences from {folder}")
    else:
        ds = synthetic_dataset()
        print(f"data: {folder} not found; using {len(ds)} synthetic sequences")
    if limit and len(ds) > limit:
        ds = ds.subset(np.linspace(0, len(ds) - 1, limit).round().astype(int))  # every class, every view
    return ds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="NW-UCLA all_sqe folder")
    parser.add_argument("--out", type=Path, default=Path("quickstart_out"), help="folder for the pictures")
    parser.add_argument("--limit", type=int, default=None, help="use at most this many sequences")
    parser.add_argument("--queries", type=int, default=3, help="queries to print")
    parser.add_argument("-k", type=int, default=5, help="neighbours per query")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    ds = load_data(args.data, args.limit)
    encoder = load_encoder(ds.layout)
    if encoder.config.layout != ds.layout:
        ds = ds.to_layout(encoder.config.layout)  # e.g. kinect20 -> ntu25; joints the data lack are missing
    gallery, queries = ds.subset("train"), ds.subset("test")

    # 1. embed: (N, D) float32, L2-normalised
    z_gallery = encoder.embed(gallery, device="cpu")
    z_queries = encoder.embed(queries, device="cpu")

    # 2. index the gallery with ids and labels, then search with the queries
    retriever = Retriever(dim=encoder.embed_dim)
    retriever.add(z_gallery, ids=gallery.names, labels=gallery.labels)
    hits = retriever.search(z_queries, k=args.k)

    names = ds.classes or [str(c) for c in range(ds.num_classes)]
    for q in np.linspace(0, len(queries) - 1, args.queries).round().astype(int):
        print(f"\nquery {queries.names[q]} ({names[queries.labels[q]]}):")
        for rank, (i, s, lab) in enumerate(zip(hits.ids[q], hits.scores[q], hits.labels[q], strict=True), 1):
            mark = "ok" if lab == queries.labels[q] else "  "
            print(f"  {rank}. {mark} {i:<24} {names[lab]:<24} cosine {s:.3f}")
    top1 = float(np.mean(hits.labels[:, 0] == queries.labels))
    chance = float(np.max(np.bincount(queries.labels)) / len(queries))
    print(
        f"\nkNN top-1 (k=1), {len(queries)} queries from camera 3 against {len(gallery)} from cameras 1-2: "
        f"{100 * top1:.1f} % (majority class: {100 * chance:.1f} %)"
    )

    # 3. a picture of one query and what it retrieved
    from slimkit import viz

    q = int(np.argmax(hits.labels[:, 0] == queries.labels))  # a query whose top hit is right, if any
    pos = {n: i for i, n in enumerate(gallery.names)}
    top = [gallery[pos[i]][0] for i in hits.ids[q]]
    path = args.out / "retrieval_grid.png"
    viz.plot_retrieval_grid(
        queries[q][0],
        top,
        ds.layout,
        labels=list(hits.labels[q]),
        scores=list(hits.scores[q]),
        query_label=int(queries.labels[q]),
        class_names=names,
        path=path,
        title=f"query {queries.names[q]} and its top {args.k} (cosine)",
    )
    print(f"wrote {path}  ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
