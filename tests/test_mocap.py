"""BVH and Acclaim ASF/AMC readers: small files the tests write, and the real HDM05 / Bandai-Namco sets."""

from __future__ import annotations

import functools
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from slimkit.data import SkeletonDataset, load
from slimkit.data.mocap import layout_from_hierarchy, read_amc, read_amc_file, read_bvh, read_bvh_file
from slimkit.layouts import convert_layout, get_layout

UNIT = 0.0254 / 0.45  # metres per ASF unit with ":units length 0.45"


def bone_lengths(seq: np.ndarray, layout: str, skip: tuple[str, ...] = ()) -> np.ndarray:
    """(bones, T) lengths of the layout's bones in (T, V, 3) float64."""
    lay = get_layout(layout)
    a = seq.astype(np.float64)
    return np.array(
        [np.linalg.norm(a[:, c] - a[:, p], axis=-1) for c, p in lay.bones if lay.joints[c] not in skip]
    )


def on_the_left(seq: np.ndarray, layout: str, pair: str, heel: str, toe: str) -> float:
    """Median over frames of cos(angle) between ``l_pair - r_pair`` and the person's left, which in a y-up,
    right-handed frame is up x forward, forward being where the feet point (frames with both feet roughly
    flat only: a runner's toes point down)."""
    lay = get_layout(layout)
    foot = np.stack([seq[:, lay.index(s + toe)] - seq[:, lay.index(s + heel)] for s in ("l_", "r_")], 1)
    flat = (np.linalg.norm(foot[..., [0, 2]], axis=-1) > 0.7 * np.linalg.norm(foot, axis=-1)).all(1)
    assert flat.any()
    fwd = foot[flat].sum(1).astype(np.float64)
    fwd[:, 1] = 0.0
    left = np.cross([0.0, 1.0, 0.0], fwd / np.linalg.norm(fwd, axis=-1, keepdims=True))
    across = (seq[flat, lay.index("l_" + pair)] - seq[flat, lay.index("r_" + pair)]).astype(np.float64)
    across /= np.linalg.norm(across, axis=-1, keepdims=True)
    return float(np.median((across * left).sum(-1)))


# ---------------------------------------------------------------------------------------------------------
# a small BVH, in centimetres, the person facing +z (so its left is +x)
# ---------------------------------------------------------------------------------------------------------
BVH_HIERARCHY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Head
    {
      OFFSET 0 40 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 10 0
      }
    }
    JOINT LeftArm
    {
      OFFSET 15 35 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT LeftHand
      {
        OFFSET 25 0 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 5 0 0
        }
      }
    }
    JOINT RightArm
    {
      OFFSET -15 35 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT RightHand
      {
        OFFSET -25 0 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET -5 0 0
        }
      }
    }
  }
  JOINT UpLeg_L
  {
    OFFSET 10 -5 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Leg_L
    {
      OFFSET 0 -45 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT Foot_L
      {
        OFFSET 0 -45 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0 -5 12
        }
      }
    }
  }
  JOINT UpLeg_R
  {
    OFFSET -10 -5 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Leg_R
    {
      OFFSET 0 -45 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT Foot_R
      {
        OFFSET 0 -45 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0 -5 12
        }
      }
    }
  }
}
"""
BVH_JOINTS = "Hips Spine Head LeftArm LeftHand RightArm RightHand UpLeg_L Leg_L Foot_L UpLeg_R Leg_R Foot_R".split()
BVH_WIDTH = 6 + 3 * 12


def write_bvh(path: Path, motion: np.ndarray, frame_time: float = 1 / 60, frames: int | None = None) -> None:
    rows = [" ".join(f"{v:.6f}" for v in r) for r in motion]
    n = len(motion) if frames is None else frames
    path.write_text(BVH_HIERARCHY + f"MOTION\nFrames: {n}\nFrame Time: {frame_time:.7f}\n" + "\n".join(rows) + "\n")


def bvh_motion(rng: np.random.Generator, t: int, amplitude: float = 40.0) -> np.ndarray:
    m = rng.uniform(-amplitude, amplitude, size=(t, BVH_WIDTH))
    m[:, :3] = [5.0, 100.0, -3.0] + rng.normal(scale=2.0, size=(t, 3))
    return m


def test_bvh_rest_pose_is_the_offsets_in_metres(tmp_path):
    m = np.zeros((3, BVH_WIDTH))
    m[:, :3] = [0.0, 100.0, 0.0]
    write_bvh(tmp_path / "rest.bvh", m)
    pos, fps = read_bvh_file(tmp_path / "rest.bvh")
    assert fps == pytest.approx(60.0) and pos.shape == (3, 13, 3)
    j = {n: i for i, n in enumerate(BVH_JOINTS)}
    np.testing.assert_allclose(pos[0, j["Hips"]], [0, 1.0, 0], atol=1e-6)
    np.testing.assert_allclose(pos[0, j["Head"]], [0, 1.5, 0], atol=1e-6)
    np.testing.assert_allclose(pos[0, j["LeftHand"]], [0.4, 1.45, 0], atol=1e-6)
    np.testing.assert_allclose(pos[0, j["Foot_R"]], [-0.1, 0.05, 0], atol=1e-6)
    assert read_bvh_file(tmp_path / "rest.bvh", end_sites=True)[0].shape == (3, 18, 3)
    assert read_bvh_file(tmp_path / "rest.bvh", unit="mm")[0][0, j["Head"], 1] == pytest.approx(0.15)


def test_bvh_channel_order_is_intrinsic(tmp_path):
    """Spine 'Zrotation Xrotation Yrotation' = (90, 90, 0) is Rz(90) @ Rx(90): it takes the head offset
    (0, 40, 0) to (0, 0, 40). The extrinsic reading, Rx(90) @ Rz(90), would give (-40, 0, 0)."""
    m = np.zeros((1, BVH_WIDTH))
    m[0, :3] = [0.0, 100.0, 0.0]
    m[0, 6:9] = [90.0, 90.0, 0.0]  # Spine: Z, X, Y
    write_bvh(tmp_path / "turn.bvh", m)
    pos, _ = read_bvh_file(tmp_path / "turn.bvh", target_fps=None)
    np.testing.assert_allclose(pos[0, BVH_JOINTS.index("Head")], [0, 1.1, 0.4], atol=1e-6)
    # the same via scipy by hand, for the root's own ZXY channels
    m[0, 6:9] = 0.0
    m[0, 3:6] = [30.0, -50.0, 70.0]
    write_bvh(tmp_path / "root.bvh", m)
    pos, _ = read_bvh_file(tmp_path / "root.bvh", target_fps=None)
    spine = Rotation.from_euler("ZXY", [30.0, -50.0, 70.0], degrees=True).apply([0, 10, 0]) / 100
    np.testing.assert_allclose(pos[0, 1] - pos[0, 0], spine, atol=1e-6)


def test_bvh_rigid_frames_resampled_and_labelled(tmp_path, rng):
    write_bvh(tmp_path / "a.bvh", bvh_motion(rng, 61))
    (tmp_path / "a.json").write_text(json.dumps({"content": 1, "style": 0}))
    write_bvh(tmp_path / "b.bvh", bvh_motion(rng, 20))
    (tmp_path / "b.json").write_text(json.dumps({"content": 0, "style": 2}))
    full = load(tmp_path, target_fps=None)  # a folder of .bvh with .json sidecars
    assert full.names == ["a", "b"] and list(full.labels) == [1, 0] and list(full.meta["style"]) == [0, 2]
    a = full[0][0][0]
    assert a.shape == (61, 13, 3)  # the declared frame count
    spread = np.ptp(bone_lengths(a, full.layout, skip=("hips",)), axis=1)
    assert spread.max() < 1e-5  # rigid under random rotations
    half = load(tmp_path)  # default: 30 fps, every second frame of a 60 fps file
    assert list(half.meta["fps"]) == [30.0, 30.0] and list(half.meta["source_fps"]) == [60.0, 60.0]
    np.testing.assert_array_equal(half[0][0][0], a[::2])
    assert half[1][0].shape[1] == 10
    lay = get_layout(full.layout)  # built from the hierarchy: sides from the names
    assert lay.joints[:5] == ("hips", "spine", "head", "l_arm", "l_hand")
    assert "l_upleg" in lay.joints and "r_foot" in lay.joints
    assert {lay.joints[j] for j in lay.parts["left_leg"]} == {"l_upleg", "l_leg", "l_foot"}
    assert {lay.joints[j] for j in lay.parts["right_arm"]} == {"r_arm", "r_hand"}
    assert lay.joints[lay.center[0]] == "hips"


def test_bvh_malformed_files_name_file_and_line(tmp_path, rng):
    f = tmp_path / "bad.bvh"
    write_bvh(f, bvh_motion(rng, 4))
    lines = f.read_text().splitlines()
    first_motion = lines.index("MOTION") + 4  # 1-based line of the first frame
    lines[first_motion] = lines[first_motion].replace(" ", " x ", 1)  # second frame: a word in the numbers
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"bad\.bvh: line {first_motion + 1}: expected {BVH_WIDTH} channel"):
        read_bvh_file(f)
    write_bvh(f, bvh_motion(rng, 4), frames=5)
    with pytest.raises(ValueError, match=r"bad\.bvh: line \d+: Frames: declares 5 frames, but 4"):
        read_bvh_file(f)
    text = BVH_HIERARCHY.replace("OFFSET 0 10 0\n    CHANNELS 3 Zrotation", "OFFSET 0 10 0\n    CHANNELS 3 Zrot")
    f.write_text(text + "MOTION\nFrames: 1\nFrame Time: 0.01\n" + " ".join(["0"] * BVH_WIDTH) + "\n")
    want = text.splitlines().index("    CHANNELS 3 Zrot Xrotation Yrotation") + 1
    with pytest.raises(ValueError, match=rf"bad\.bvh: line {want}: unknown channel 'Zrot'"):
        read_bvh_file(f)
    text = BVH_HIERARCHY.replace("OFFSET 0 40 0", "OFFSET 0 forty 0")
    f.write_text(text + "MOTION\nFrames: 1\nFrame Time: 0.1\n")
    want = text.splitlines().index("      OFFSET 0 forty 0") + 1
    with pytest.raises(ValueError, match=rf"bad\.bvh: line {want}: expected an OFFSET value \(a number\), got 'forty'"):
        read_bvh_file(f)


# ---------------------------------------------------------------------------------------------------------
# a small Acclaim skeleton: left on +x, facing +z, units of 1/0.45 inch
# ---------------------------------------------------------------------------------------------------------
ASF = """# test skeleton
:version 1.10
:name test
:units
  mass 1.0
  length 0.45
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
{bones}:hierarchy
  begin
    root lhipjoint rhipjoint lowerback
    lhipjoint lfemur
    lfemur ltibia
    rhipjoint rfemur
    rfemur rtibia
    lowerback lhumerus rhumerus
  end
"""
BONES = [  # name, direction, length, axis, dof
    ("lhipjoint", "1 0 0", 2, "0 0 0", ""),
    ("lfemur", "0 -1 0", 8, "0 0 20", "rx ry rz"),
    ("ltibia", "0 -1 0", 8, "0 0 20", "rx"),
    ("rhipjoint", "-1 0 0", 2, "0 0 0", ""),
    ("rfemur", "0 -1 0", 8, "0 0 -20", "rx ry rz"),
    ("rtibia", "0 -1 0", 8, "0 0 -20", "rx"),
    ("lowerback", "0 1 0", 6, "0 0 0", "rx ry rz"),
    ("lhumerus", "1 0 0", 5, "0 0 90", "rx"),
    ("rhumerus", "-1 0 0", 5, "0 0 -90", "rx"),
]
AMC_BONES = [b for b in BONES if b[4]]


def write_asf(path: Path) -> None:
    blocks = ""
    for i, (name, d, length, axis, dof) in enumerate(BONES, start=1):
        blocks += f"  begin\n     id {i}\n     name {name}\n     direction {d}\n     length {length}\n"
        blocks += f"     axis {axis}  XYZ\n" + (f"    dof {dof}\n    limits (-180 180)\n" if dof else "") + "  end\n"
    path.write_text(ASF.format(bones=blocks))


def write_amc(path: Path, frames: list[dict[str, list[float]]]) -> None:
    out = ["#!OML:ASF test.asf", ":FULLY-SPECIFIED", ":DEGREES"]
    for k, fr in enumerate(frames, start=1):
        out.append(str(k))
        out.append("root " + " ".join(f"{v:g}" for v in fr.get("root", [0, 20, 0, 0, 0, 0])))
        for name, *_, dof in AMC_BONES:
            out.append(name + " " + " ".join(f"{v:g}" for v in fr.get(name, [0.0] * len(dof.split()))))
    path.write_text("\n".join(out) + "\n")


def random_frames(rng: np.random.Generator, t: int) -> list[dict[str, list[float]]]:
    return [
        {"root": [*rng.normal(size=3), *rng.uniform(-180, 180, 3)]}
        | {n: list(rng.uniform(-90, 90, len(dof.split()))) for n, *_, dof in AMC_BONES}
        for _ in range(t)
    ]


def test_amc_axis_frames_and_units(tmp_path):
    write_asf(tmp_path / "test.asf")
    write_amc(tmp_path / "test_01.amc", [{}, {"lhumerus": [90.0]}])
    pos, fps = read_amc_file(tmp_path / "test_01.amc")
    assert fps == 120.0 and pos.shape == (2, 10, 3)
    joints = ["root"] + [b[0] for b in BONES]
    j = {n: i for i, n in enumerate(joints)}
    rest = pos[0] / UNIT
    np.testing.assert_allclose(rest[j["root"]], [0, 20, 0], atol=1e-4)
    np.testing.assert_allclose(rest[j["ltibia"]], [2, 4, 0], atol=1e-4)  # hip 2 right of the root, 16 down
    np.testing.assert_allclose(rest[j["lhumerus"]], [5, 26, 0], atol=1e-4)
    # lhumerus: axis Rz(90), dof rx 90 -> C Rx(90) C^-1 = Ry(90), which turns (1, 0, 0) to (0, 0, -1).
    # Ignoring the axis would leave the bone where it was; C^-1 Rx C would turn it to (0, 0, 1).
    turned = pos[1] / UNIT
    np.testing.assert_allclose(turned[j["lhumerus"]] - turned[j["lowerback"]], [0, 0, -5], atol=1e-4)
    np.testing.assert_allclose(turned[j["rhumerus"]], rest[j["rhumerus"]], atol=1e-4)


def test_amc_rigid_frames_labels_and_split(tmp_path, rng):
    for split, cls, name, t in [("train", "1", "aa_01", 9), ("train", "2", "aa_02", 5), ("test", "1", "bb_03", 6)]:
        d = tmp_path / split / cls
        d.mkdir(parents=True)
        write_asf(d / f"{name[:2]}.asf")
        write_amc(d / f"{name}.amc", random_frames(rng, t))
    ds = load(tmp_path, target_fps=None)
    assert ds.names == ["bb_03", "aa_01", "aa_02"]  # sorted by path: test/ before train/
    assert list(ds.labels) == [0, 0, 1] and ds.classes == ["1", "2"]
    assert list(ds.split["train"]) == [1, 2] and list(ds.split["test"]) == [0]
    assert [ds[i][0].shape[1] for i in range(3)] == [6, 9, 5]  # the frames the files declare
    for i in range(3):
        spread = np.ptp(bone_lengths(ds[i][0][0], ds.layout), axis=1)
        assert spread.max() < 1e-5
    quarter = load(tmp_path)  # default 30 fps from 120: frames 0, 4, 8
    np.testing.assert_array_equal(quarter[1][0][0], ds[1][0][0][[0, 4, 8]])
    assert load(tmp_path / "train" / "2" / "aa.asf", target_fps=None)[0][0].shape == (1, 5, 10, 3)


def test_amc_malformed_files_name_file_and_line(tmp_path, rng):
    write_asf(tmp_path / "x.asf")
    f = tmp_path / "x_1.amc"
    write_amc(f, random_frames(rng, 3))
    lines = f.read_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("ltibia ") and i > 12)
    lines[k] += " 7"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"x_1\.amc: line {k + 1}: bone 'ltibia' has 1 degrees of freedom"):
        read_amc_file(f)
    lines[k] = "ltibia 1e"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"x_1\.amc: .*expected a number, got '1e'"):
        read_amc_file(f)
    del lines[k]
    f.write_text("\n".join(lines) + "\n")
    frame2 = lines.index("2") + 1
    with pytest.raises(ValueError, match=rf"x_1\.amc: line {frame2}: frame 2 lacks the bones \['ltibia'\]"):
        read_amc_file(f)
    asf = (tmp_path / "x.asf").read_text().replace("direction 0 -1 0", "direction 0 -l 0", 1)
    (tmp_path / "x.asf").write_text(asf)
    bad = asf.splitlines().index("     direction 0 -l 0") + 1
    with pytest.raises(ValueError, match=rf"x\.asf: line {bad}: expected 3 numbers for the bone direction"):
        read_amc_file(f)


def test_generic_layout_from_hierarchy():
    names = ["root", "l_hip", "l_knee", "r_hip", "r_knee", "chest", "l_arm", "l_hand", "r_arm", "r_hand"]
    parents = [-1, 0, 1, 0, 3, 0, 5, 6, 5, 8]
    lay = layout_from_hierarchy("t10", names, parents)
    assert lay.parts["left_leg"] == (1, 2) and lay.parts["right_arm"] == (8, 9) and lay.parts["torso"] == (0, 5)
    assert lay.center == (0,) and lay.spine == ((0,), (5,))
    assert set(lay.flip_pairs) == {(1, 3), (2, 4), (6, 8), (7, 9)}


def test_detection_and_errors(tmp_path):
    with pytest.raises(ValueError, match="mixes several formats"):
        (tmp_path / "a.bvh").write_text("x")
        (tmp_path / "b.amc").write_text("x")
        load(tmp_path)
    with pytest.raises(ValueError, match="target_fps: expected a positive number"):
        read_bvh(tmp_path / "a.bvh", target_fps=0)
    with pytest.raises(ValueError, match=r"a\.bvh: not a BVH file: no MOTION line"):
        read_bvh(tmp_path / "a.bvh")
    with pytest.raises(FileNotFoundError, match=r"b\.amc: cannot tell its skeleton"):
        read_amc(tmp_path / "b.amc")


# ---------------------------------------------------------------------------------------------------------
# the real sets
# ---------------------------------------------------------------------------------------------------------
HDM05_COUNTS = [32, 27, 29, 36, 17, 29, 20, 16, 15, 52, 14]


@functools.lru_cache(maxsize=4)
def read_all(root: Path) -> tuple[SkeletonDataset, list[np.ndarray]]:
    """Every clip at its own frame rate, read once per test session (each file is parsed once)."""
    ds = load(root, target_fps=None)
    return ds, [ds[i][0][0] for i in range(len(ds))]


@pytest.fixture
def hdm05(shared_data):
    return read_all(shared_data / "hdm05")


def test_hdm05_loads_completely_rigid_with_declared_frames(hdm05, shared_data):
    ds, seqs = hdm05
    assert len(ds) == 287 and ds.layout == "hdm05-31"
    assert list(np.bincount(ds.labels)) == HDM05_COUNTS and ds.classes[5] == "kickLFront1Reps"
    assert len(ds.split["train"]) == 188 and len(ds.split["test"]) == 99
    assert set(np.array(ds.meta["actor"])[ds.split["test"]]) == {"HDM_mm", "HDM_tr"}
    files = {f.stem: f for f in (shared_data / "hdm05").rglob("*.amc")}
    worst = 0.0
    for name, seq in zip(ds.names, seqs, strict=True):
        declared = int(re.findall(r"^(\d+)\s*$", files[name].read_text(encoding="latin-1"), re.M)[-1])
        assert seq.shape == (declared, 31, 3), name
        assert np.isfinite(seq).all()
        worst = max(worst, float(np.ptp(bone_lengths(seq, ds.layout), axis=1).max()))
    assert worst < 1e-4


def test_hdm05_sides_feet_and_kick(hdm05):
    ds, seqs = hdm05
    lay = get_layout(ds.layout)
    j = lay.index
    for i, seq in enumerate(seqs):
        first = seq[0].astype(np.float64)
        for pair in ("hipjoint", "clavicle"):  # the hips and the shoulders
            assert on_the_left(seq, ds.layout, pair, "foot", "toes") > 0.5, (ds.names[i], pair)
        if ds.classes[ds.labels[i]] != "lieDownFloor":  # every other clip starts standing
            k20 = convert_layout(first, ds.layout, "kinect20")
            lowest = np.argsort(k20[:, 1])[:2]
            assert set(get_layout("kinect20").joints[x] for x in lowest) <= {"l_foot", "r_foot", "l_ankle", "r_ankle"}
        if ds.classes[ds.labels[i]] == "kickLFront1Reps":  # the left foot goes up, the right stays down
            assert seq[:, j("l_foot"), 1].max() > seq[:, j("r_foot"), 1].max() + 0.4, ds.names[i]


@pytest.fixture
def bandai(shared_data):
    return read_all(shared_data / "bandai-namco")


def test_bandai_loads_completely_rigid_with_declared_frames(bandai, shared_data):
    ds, seqs = bandai
    assert len(ds) == 64 and ds.layout == "bvh-bandai22"
    assert ds.classes[6] == "bow" and len(set(ds.labels)) == 16
    for name, seq in zip(ds.names, seqs, strict=True):
        text = (shared_data / "bandai-namco" / "data" / f"{name}.bvh").read_text()
        assert seq.shape == (int(re.search(r"Frames:\s*(\d+)", text).group(1)), 22, 3)
        content = json.loads((shared_data / "bandai-namco" / "data" / f"{name}.json").read_text())["content"]
        label = ds.labels[ds.names.index(name)]
        assert label == content and ds.classes[label] == name.split("_")[1]  # dataset-1_<content>_<style>_nnn
        # the hips carry the root translation; every other bone is rigid
        assert np.ptp(bone_lengths(seq, ds.layout, skip=("hips",)), axis=1).max() < 1e-4
    assert set(ds.meta["style_name"]) == {"normal", "angry", "happy", "old", "tired"}


def test_bandai_sides_and_feet(bandai):
    """Bandai's foot-to-toes vector points mostly down, so forward is where the walkers and runners go."""
    ds, seqs = bandai
    j = get_layout(ds.layout).index
    movers = 0
    for i, seq in enumerate(seqs):
        a = seq.astype(np.float64)
        if ds.classes[ds.labels[i]] in ("walk", "run", "dash"):
            fwd = a[-1, j("hips")] - a[0, j("hips")]
            fwd[1] = 0.0
            left = np.cross([0.0, 1.0, 0.0], fwd / np.linalg.norm(fwd))
            for pair in ("upperleg", "upperarm"):  # the hips and the shoulders
                across = a[:, j("l_" + pair)] - a[:, j("r_" + pair)]
                cos = (across / np.linalg.norm(across, axis=-1, keepdims=True)) @ left
                assert np.median(cos) > 0.8, (ds.names[i], pair)
            movers += 1
        k20 = convert_layout(a[0], ds.layout, "kinect20")
        lowest = {get_layout("kinect20").joints[x] for x in np.argsort(k20[:, 1])[:2]}
        assert lowest <= {"l_foot", "r_foot", "l_ankle", "r_ankle"}, ds.names[i]
    assert movers >= 15


def test_conversions_look_like_kinect(hdm05, bandai, shared_data):
    """Converted clips have a Kinect v1 body: every kinect20 bone within a factor 2 of NW-UCLA's median (a
    joint mapped to the wrong body part, e.g. the knee to the ankle or the elbow to the hand, is off by more).
    Bandai-Namco's hand joint is its wrist (no fingers) and its head joint the base of the skull: those two
    bones are short by construction, and checked as such."""
    ucla = sorted((shared_data / "nw-ucla" / "all_sqe").glob("*.json"))[::50]
    ref = np.nanmedian(np.concatenate([bone_lengths(load(f)[0][0][0], "kinect20") for f in ucla], axis=1), axis=1)
    names = [get_layout("kinect20").joints[c] for c, _ in get_layout("kinect20").bones]
    for ds, _ in (hdm05, bandai):
        k20 = ds.subset(np.arange(0, len(ds), 8)).to_layout("kinect20")
        assert k20.layout == "kinect20"
        got = np.median(np.concatenate([bone_lengths(k20[i][0][0], "kinect20") for i in range(len(k20))], 1), 1)
        for name, g, r in zip(names, got, ref, strict=True):
            if ds.layout == "bvh-bandai22" and name.endswith("_hand"):
                assert g == 0.0  # kinect20 wrist and hand are both Bandai's Hand joint
            elif ds.layout == "bvh-bandai22" and name == "head":
                assert 0.04 < g < r / 2
            else:
                assert r / 2 < g < r * 2, (ds.layout, name, g, r)
        assert np.isfinite(k20[0][0]).all()
        ntu = ds.subset([0]).to_layout("ntu25")[0][0]
        missing = {get_layout("ntu25").joints[v] for v in np.flatnonzero(np.isnan(ntu[0, 0, :, 0]))}
        assert missing == (set() if ds.layout == "hdm05-31" else {"l_hand_tip", "r_hand_tip", "l_thumb", "r_thumb"})


def test_real_malformed_file_names_file_and_line(tmp_path, shared_data):
    src = next((shared_data / "hdm05" / "train" / "6").glob("*.amc"))
    shutil.copy(shared_data / "hdm05" / "train" / "6" / "HDM_bd.asf", tmp_path / "HDM_bd.asf")
    lines = src.read_text(encoding="latin-1").splitlines()
    k = [i for i, ln in enumerate(lines) if ln.startswith("rtibia ")][10]  # in the 11th frame
    lines[k] = "rtibia 1.0 oops 2"
    (tmp_path / src.name).write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{re.escape(src.name)}: line {k + 1}: bone 'rtibia' has 1 degrees"):
        read_amc_file(tmp_path / src.name)
    bvh = next((shared_data / "bandai-namco" / "data").glob("*kick*.bvh"))
    lines = bvh.read_text().splitlines()
    k = lines.index("MOTION") + 10
    lines[k] = " ".join(lines[k].split()[:-1])
    (tmp_path / bvh.name).write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{re.escape(bvh.name)}: line {k + 1}: expected 132 channel values"):
        read_bvh_file(tmp_path / bvh.name)


def test_embed_command_on_mocap_with_the_shipped_kinect_model(tmp_path, shared_data):
    """`slimkit embed` converts the mocap joints to the model's kinect20 layout and embeds every clip."""
    from slimkit.cli import main
    from slimkit.hub import list_pretrained

    model = next(m for m in list_pretrained() if "nwucla" in m or "kinect" in m)
    d = tmp_path / "hdm" / "train" / "6"
    d.mkdir(parents=True)
    src = shared_data / "hdm05" / "train" / "6"
    for f in [src / "HDM_bd.asf", *sorted(src.glob("HDM_bd_*.amc"))[:2]]:
        (d / f.name).symlink_to(f)
    bvh = tmp_path / "bvh"
    bvh.mkdir()
    for f in sorted((shared_data / "bandai-namco" / "data").glob("*_bow_*.bvh"))[:2]:
        (bvh / f.name).symlink_to(f)
        (bvh / f.with_suffix(".json").name).symlink_to(f.with_suffix(".json"))
    for folder, n in ((tmp_path / "hdm", 2), (bvh, 2)):
        out = tmp_path / f"{folder.name}.npy"
        assert main(["embed", str(folder), "-m", model, "-o", str(out), "--quiet"]) == 0
        emb = np.load(out)
        assert emb.shape[0] == n and np.isfinite(emb).all()
        assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)


def test_one_actor_read_as_kinect20(shared_data):
    folder = shared_data / "hdm05" / "train" / "6"
    ds = load(folder / "HDM_bd.asf", layout="kinect20")  # the .amc files of actor bd beside the skeleton
    assert ds.layout == "kinect20" and len(ds) == len(list(folder.glob("HDM_bd_*.amc")))
    assert all(n.startswith("HDM_bd_") for n in ds.names)
    x = ds[0][0]
    assert x.shape[2:] == (20, 3) and np.isfinite(x).all() and ds.meta["fps"][0] == 30.0


def test_unknown_skeleton_has_no_kinect_conversion(tmp_path, rng):
    write_bvh(tmp_path / "a.bvh", bvh_motion(rng, 3))
    with pytest.raises(ValueError, match=r"no conversion from 'bvh13-\w+' to 'kinect20'"):
        load(tmp_path / "a.bvh", layout="kinect20")
