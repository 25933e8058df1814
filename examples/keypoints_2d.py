"""Embed 2-D keypoints from a pose estimator (OpenPose-style JSON, one file per frame).

    python examples/keypoints_2d.py --out keypoints_demo
    python examples/keypoints_2d.py --json-dir my_video_json/ --out keypoints_demo

OpenPose (``--model_pose COCO``) writes ``<video>_<frame>_keypoints.json`` per frame, each holding
``people[i]["pose_keypoints_2d"] = [x0, y0, c0, x1, y1, c1, ...]`` for 18 joints (the ``openpose18``
layout) in pixels, with ``0, 0, 0`` for a joint it did not find. This script writes such files for a
made-up waving person (unless ``--json-dir`` is given), parses them into one ``(M, T, 18, 3)`` array of
(x, y, confidence), converts it to COCO-17 (``slimkit.layouts.convert_layout``), embeds it with a 2-D
model, embeds sliding windows of it (for long videos), and writes an animated GIF of what was parsed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.hub import list_pretrained
from slimkit.layouts import convert_layout, get_layout

OPENPOSE = get_layout("openpose18")


def write_openpose_json(folder: Path, frames: int = 48, width: int = 1280, height: int = 720) -> None:
    """Per-frame OpenPose JSON of a person raising the right arm, then waving, with a few lost joints."""
    # standing pose in pixels (y down), openpose18 joint order
    pose = {
        "nose": (640, 200),
        "neck": (640, 260),
        "r_shoulder": (590, 262),
        "r_elbow": (570, 340),
        "r_wrist": (565, 410),
        "l_shoulder": (690, 262),
        "l_elbow": (710, 340),
        "l_wrist": (715, 410),
        "r_hip": (610, 420),
        "r_knee": (608, 530),
        "r_ankle": (606, 640),
        "l_hip": (670, 420),
        "l_knee": (672, 530),
        "l_ankle": (674, 640),
        "r_eye": (630, 190),
        "l_eye": (650, 190),
        "r_ear": (620, 196),
        "l_ear": (660, 196),
    }
    base = np.array([pose[j] for j in OPENPOSE.joints], dtype=np.float64)
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    shoulder, elbow, wrist = (OPENPOSE.index(j) for j in ("r_shoulder", "r_elbow", "r_wrist"))
    for t in range(frames):
        p = base + rng.normal(scale=1.5, size=base.shape)
        lift = min(t / 16, 1.0)  # the arm rises over the first 16 frames, then waves
        wave = 0.4 * np.sin(2 * np.pi * t / 12) * lift
        upper = np.pi * 0.8 * lift  # angle from hanging straight down; pi = straight up
        fore = upper + 0.3 + wave
        p[elbow] = p[shoulder] + 75 * np.array([-np.sin(upper), np.cos(upper)])  # image y points down
        p[wrist] = p[elbow] + 70 * np.array([-np.sin(fore), np.cos(fore)])
        conf = rng.uniform(0.6, 0.95, size=len(p))
        if t % 10 == 3:  # the estimator lost the left ankle in this frame
            p[OPENPOSE.index("l_ankle")], conf[OPENPOSE.index("l_ankle")] = 0.0, 0.0
        flat = np.concatenate([p, conf[:, None]], axis=1).round(2).ravel().tolist()
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": flat}]}
        (folder / f"demo_{t:012d}_keypoints.json").write_text(json.dumps(doc))


def read_openpose_json(folder: Path, max_persons: int = 2) -> np.ndarray:
    """``(M, T, 18, 3)`` float32 (x, y, confidence); people absent from a frame are NaN."""
    files = sorted(folder.glob("*_keypoints.json"))
    if not files:
        raise FileNotFoundError(f"no *_keypoints.json files in {folder}")
    out = np.full((max_persons, len(files), OPENPOSE.num_joints, 3), np.nan, dtype=np.float32)
    for t, f in enumerate(files):
        people = json.loads(f.read_text())["people"]
        for m, person in enumerate(people[:max_persons]):  # OpenPose does not track identities
            out[m, t] = np.asarray(person["pose_keypoints_2d"], dtype=np.float32).reshape(-1, 3)
    return out


def load_2d_encoder() -> SLiMEncoder:
    for name in list_pretrained():
        encoder = SLiMEncoder.from_pretrained(name)
        if encoder.config.layout == "coco17" and encoder.config.in_channels == 2:
            return encoder
    print("no pretrained 2-D coco17 encoder is shipped: using a randomly initialised tiny one")
    return SLiMEncoder(SLiMConfig.tiny(layout="coco17", in_channels=2, normalize_scale=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json-dir", type=Path, help="OpenPose JSON folder (default: write a demo)")
    parser.add_argument("--out", type=Path, default=Path("keypoints_demo"))
    parser.add_argument("--window", type=int, default=32, help="frames per sliding window")
    parser.add_argument("--no-gif", action="store_true", help="skip the animated GIF")
    args = parser.parse_args(argv)

    folder = args.json_dir
    if folder is None:
        folder = args.out / "openpose_json"
        write_openpose_json(folder)
    raw = read_openpose_json(folder)  # (M, T, 18, 3): x, y, confidence
    print(f"read {raw.shape[1]} frames from {folder}")

    # OpenPose-18 -> COCO-17: same joints minus the neck; (0, 0, 0) joints come out missing (NaN).
    coco = convert_layout(raw, "openpose18", "coco17")

    # A 2-D model takes (x, y) or (x, y, score): joints with score <= config.min_score are missing.
    encoder = load_2d_encoder()
    z = encoder.embed(coco)  # (1, D): the whole clip
    print(f"clip embedding: {z.shape}")

    # Long videos: embed overlapping windows, one embedding per window.
    t = coco.shape[1]
    starts = range(0, max(t - args.window, 0) + 1, args.window // 2)
    windows = [coco[:, s : s + args.window] for s in starts]
    zw = encoder.embed(windows)
    print(
        f"{len(windows)} windows of {args.window} frames: embeddings {zw.shape}; cosine between the "
        f"first two: {float(zw[0] @ zw[1]) if len(zw) > 1 else 1.0:.3f}"
    )

    if not args.no_gif:
        from slimkit import viz

        gif = viz.animate(
            coco[..., :2], "coco17", args.out / "keypoints.gif", fps=12, title="OpenPose -> COCO-17"
        )
        print(f"wrote {gif}")


if __name__ == "__main__":
    main()
