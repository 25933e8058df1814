"""Embed your own skeleton clips, keep the index on disk, and search it later.

    python examples/embed_and_search.py --clips my_clips/ --layout ntu25 --model org/slim-ntu60-base
    python examples/embed_and_search.py --out search_demo            # no arguments: writes demo clips first

A clip is one ``.npy`` file holding ``(T, V, C)`` or ``(M, T, V, C)`` joints (any number of frames; zeros or
NaN where a joint or a person is missing). The script embeds every clip in a folder, saves the index next to
the embeddings, loads it again as a search service would, and prints the five nearest clips of each query.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import slimkit
from slimkit import Retriever, SLiMConfig, SLiMEncoder


def write_demo_clips(folder: Path, layout: str = "ntu25", count: int = 12, seed: int = 0) -> None:
    """Random-walk clips of different lengths, a few of them with a second person or missing joints."""
    rng = np.random.default_rng(seed)
    v = slimkit.get_layout(layout).num_joints
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        t = int(rng.integers(20, 80))
        persons = 2 if i % 4 == 0 else 1
        clip = rng.normal(size=(persons, 1, v, 3)) * 0.3 + rng.normal(
            scale=0.02, size=(persons, t, v, 3)
        ).cumsum(1)
        if i % 3 == 0:
            clip[:, :, 5] = 0.0  # a joint the sensor lost: all-zero means missing
        np.save(folder / f"clip_{i:03d}.npy", clip.astype(np.float32))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=Path, help="folder of .npy clips (default: write demo clips)")
    parser.add_argument("--layout", default="ntu25", help="joint layout of the clips")
    parser.add_argument("--model", help="model folder or Hub id (default: a random tiny encoder)")
    parser.add_argument(
        "--out", type=Path, default=Path("search_demo"), help="folder for embeddings and index"
    )
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args(argv)

    clips = args.clips
    if clips is None:
        clips = args.out / "clips"
        write_demo_clips(clips, args.layout)
        print(f"wrote demo clips to {clips}")

    if args.model:
        encoder = SLiMEncoder.from_pretrained(args.model)
    else:
        print("no --model given: using a randomly initialised tiny encoder (for trying the plumbing only)")
        encoder = SLiMEncoder(SLiMConfig.tiny(layout=args.layout))

    # A folder of .npy files is one dataset; each clip is named after its file.
    data = slimkit.load(clips, layout=args.layout)
    if data.layout != encoder.config.layout:
        data = data.to_layout(encoder.config.layout)
    embeddings = encoder.embed(data, batch_size=32)  # (N, D), L2-normalised
    np.save(args.out / "embeddings.npy", embeddings)

    retriever = Retriever(dim=encoder.embed_dim, info={"layout": data.layout})
    retriever.add(embeddings, ids=data.names)
    retriever.save(args.out / "clips.slimidx")

    # Later, in another process: load the index, embed the query, search.
    service = Retriever.load(args.out / "clips.slimidx")
    query = np.load(clips / f"{data.names[0]}.npy")
    hits = service.search(encoder.embed(query), k=args.k)
    print(f"{len(service)} clips indexed in {args.out / 'clips.slimidx'}; nearest to {data.names[0]}:")
    for rank, (clip_id, score) in enumerate(zip(hits.ids[0], hits.scores[0], strict=True), 1):
        print(f"  {rank}. {clip_id}  cosine {score:.3f}")


if __name__ == "__main__":
    main()
