"""Acclaim ASF/AMC motions (HDM05, CMU): the ``.asf`` skeleton (bones with direction, length, axis and dofs),
the ``.amc`` frames, and joint positions by forward kinematics (conventions in
[`slimkit.data.mocap`][slimkit.data.mocap])."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..._errors import names_file
from ...layouts import Layout
from .._common import PathLike, _list_files, _path
from ..dataset import SkeletonDataset
from .sets import _folder_labels, _fps_meta, _hdm05_classes, _mocap_dataset
from .skeleton import _INCH, _check_fps, _fail, _layout_for, _select_frames, _side_names

__all__ = ["read_amc", "read_amc_file"]


@dataclass
class _Bone:
    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray
    axis_order: str
    dof: list[str]
    parent: int = -1


@dataclass
class _Asf:
    path: Path
    bones: list[_Bone]  # bones[0] is the root
    root_order: list[str]
    root_axis: str
    root_position: np.ndarray
    root_orientation: np.ndarray
    length_unit: float  # metres per file unit
    degrees: bool
    axes: dict[int, np.ndarray] = field(default_factory=dict)  # bone -> its axis frame C, computed once


_DOFS = {"rx", "ry", "rz", "tx", "ty", "tz", "l"}


def _floats(path: Path, line: int, vals: list[str], n: int, what: str) -> np.ndarray:
    if len(vals) < n:
        raise _fail(path, line, f"expected {n} numbers for {what}, got {len(vals)}")
    try:
        return np.array([float(v) for v in vals[:n]])
    except ValueError:
        raise _fail(path, line, f"expected {n} numbers for {what}, got {vals[:n]}") from None


@functools.lru_cache(maxsize=64)
def _parse_asf_cached(path: str, mtime: float) -> _Asf:
    return _parse_asf(Path(path))


def _parse_asf(path: Path) -> _Asf:
    with open(path, encoding="latin-1") as fh:
        lines = fh.read().splitlines()
    section = ""
    root = _Bone("root", np.zeros(3), 0.0, np.zeros(3), "XYZ", [])
    bones = [root]
    root_order = ["tx", "ty", "tz", "rx", "ry", "rz"]
    root_axis, root_pos, root_ori = "XYZ", np.zeros(3), np.zeros(3)
    length_mult, degrees = 1.0, True
    cur: _Bone | None = None
    hierarchy: list[tuple[int, list[str]]] = []
    for n, raw in enumerate(lines, start=1):
        s = raw.split("#", 1)[0].strip()
        if not s:
            continue
        words = s.split()
        if words[0].startswith(":"):
            section = words[0][1:].lower()
            continue
        key = words[0].lower()
        if section == "units":
            if key == "length":
                length_mult = float(_floats(path, n, words[1:], 1, "length")[0])
                if not length_mult > 0:
                    raise _fail(path, n, f"expected a positive :units length, got {length_mult}")
            elif key == "angle":
                degrees = not (len(words) > 1 and words[1].lower().startswith("rad"))
        elif section == "root":
            if key == "order":
                root_order = [w.lower() for w in words[1:]]
                bad = [w for w in root_order if w not in _DOFS - {"l"}]
                if bad or len(root_order) == 0:
                    raise _fail(path, n, f"expected root order of TX TY TZ RX RY RZ, got {words[1:]}")
            elif key == "axis":
                root_axis = words[1].upper() if len(words) > 1 else "XYZ"
            elif key == "position":
                root_pos = _floats(path, n, words[1:], 3, "the root position")
            elif key == "orientation":
                root_ori = _floats(path, n, words[1:], 3, "the root orientation")
        elif section == "bonedata":
            if key == "begin":
                cur = _Bone("", np.zeros(3), 0.0, np.zeros(3), "XYZ", [])
            elif key == "end":
                if cur is None or not cur.name:
                    raise _fail(path, n, "a bone without a name (expected 'name <bone>' between begin and end)")
                bones.append(cur)
                cur = None
            elif cur is None:
                raise _fail(path, n, f"expected 'begin' to open a bone, got {words[0]!r}")
            elif key == "name":
                cur.name = words[1] if len(words) > 1 else ""
            elif key == "direction":
                cur.direction = _floats(path, n, words[1:], 3, "the bone direction")
            elif key == "length":
                cur.length = float(_floats(path, n, words[1:], 1, "the bone length")[0])
            elif key == "axis":
                cur.axis = _floats(path, n, words[1:], 3, "the bone axis")
                cur.axis_order = words[4].upper() if len(words) > 4 else "XYZ"
                if sorted(cur.axis_order) != ["X", "Y", "Z"]:
                    raise _fail(path, n, f"expected an axis order such as XYZ, got {cur.axis_order!r}")
            elif key == "dof":
                cur.dof = [w.lower() for w in words[1:]]
                bad = [w for w in cur.dof if w not in _DOFS]
                if bad:
                    raise _fail(path, n, f"unknown dof {bad[0]!r}; expected rx, ry, rz, tx, ty, tz or l")
            elif key in ("limits", "id", "bodymass", "cofmass") or key.startswith("("):
                pass
            else:
                raise _fail(path, n, f"unknown bone field {words[0]!r}")
        elif section == "hierarchy":
            if key in ("begin", "end"):
                continue
            hierarchy.append((n, words))
    index = {b.name: i for i, b in enumerate(bones)}
    if len(index) != len(bones):
        raise _fail(path, None, "two bones have the same name")
    if len(bones) < 2 or not hierarchy:
        raise _fail(path, None, "not an ASF skeleton: expected :bonedata and :hierarchy sections")
    for n, words in hierarchy:
        if words[0] not in index:
            raise _fail(path, n, f"unknown parent bone {words[0]!r} in :hierarchy")
        for child in words[1:]:
            if child not in index:
                raise _fail(path, n, f"unknown bone {child!r} in :hierarchy")
            bones[index[child]].parent = index[words[0]]
    orphans = [b.name for b in bones[1:] if b.parent < 0]
    if orphans:
        raise _fail(path, None, f"bones {orphans[:3]} have no parent in :hierarchy")
    # parents before children (the FK below walks the bones in this order)
    order, seen = [0], {0}
    while len(order) < len(bones):
        grew = False
        for i, b in enumerate(bones):
            if i not in seen and b.parent in seen:
                order.append(i)
                seen.add(i)
                grew = True
        if not grew:
            raise _fail(path, None, "the :hierarchy has a cycle")
    if order != list(range(len(bones))):
        remap = {old: new for new, old in enumerate(order)}
        bones = [bones[i] for i in order]
        for b in bones:
            b.parent = remap[b.parent] if b.parent >= 0 else -1
    return _Asf(path, bones, root_order, root_axis, root_pos, root_ori, _INCH / length_mult, degrees)


@dataclass
class _Amc:
    frames: int
    values: dict[str, np.ndarray]  # bone -> (T, n values)
    degrees: bool | None


def _amc_fast(lines: list[str], width: dict[str, int]) -> tuple[int, dict[str, np.ndarray], bool | None] | None:
    """Parse an AMC file laid out regularly (frames 1..N, the same bone lines in the same order each frame)
    with numpy; ``None`` when it is not, and the line-by-line parser must find what is wrong."""
    degrees: bool | None = None
    start = None
    for n, raw in enumerate(lines):
        s = raw.strip()
        if s.isdigit():
            start = n
            break
        if s.upper().startswith(":DEGREES"):
            degrees = True
        elif s.upper().startswith(":RADIANS"):
            degrees = False
    if start is None:
        return None
    body = [ln for ln in lines[start:] if ln.strip()]
    heads = [k for k, ln in enumerate(body[:200]) if ln.strip().isdigit()]
    period = heads[1] - heads[0] if len(heads) > 1 else len(body)
    if period < 1 or len(body) % period:
        return None
    frames = len(body) // period
    if [ln.strip() for ln in body[::period]] != [str(k) for k in range(1, frames + 1)]:
        return None
    values = {}
    for k in range(1, period):
        block = body[k::period]
        name = block[0].split(None, 1)[0]
        w = width.get(name, -1)
        if w < 0 or name in values:
            return None
        toks = " ".join(block).split()
        if len(toks) != frames * (w + 1):
            return None
        table = np.array(toks, dtype=object).reshape(frames, w + 1)
        if not (table[:, 0] == name).all():
            return None
        try:
            values[name] = table[:, 1:].astype(np.float64)
        except ValueError:
            return None
    if set(values) != {n for n, w in width.items() if w}:
        return None
    return frames, values, degrees


def _parse_amc(path: Path, asf: _Asf) -> _Amc:
    """Read every frame of an AMC file: numpy for regular files, else line by line, naming a bad line."""
    with open(path, encoding="latin-1") as fh:
        lines = fh.read().splitlines()
    width = {b.name: len(b.dof) for b in asf.bones[1:]}
    width["root"] = len(asf.root_order)
    fast = _amc_fast(lines, width)
    if fast is not None:
        return _Amc(*fast)
    degrees: bool | None = None
    rows: dict[str, list[list[str]]] = {name: [] for name, w in width.items() if w}
    number = 0
    seen: set[str] = set()
    frame_line = 0
    for n, raw in enumerate(lines, start=1):
        s = raw.strip()
        if not s or s[0] == "#":
            continue
        if s[0] == ":":
            word = s[1:].split()[0].upper() if len(s) > 1 else ""
            if word == "DEGREES":
                degrees = True
            elif word == "RADIANS":
                degrees = False
            continue
        if s.isdigit():
            if number and len(seen) != len(rows):
                missing = sorted(set(rows) - seen)
                msg = f"frame {number} lacks the bones {missing[:3]} (expected one line per bone)"
                raise _fail(path, frame_line, msg)
            frame_line = n
            if int(s) != number + 1 and not (number == 0 and int(s) == 0):
                raise _fail(path, n, f"expected frame number {number + 1}, got {s}")
            number += 1
            seen = set()
            continue
        if number == 0:
            raise _fail(path, n, f"expected a frame number before the bone values, got {s[:40]!r}")
        vals = s.split()
        name = vals.pop(0)
        if name not in width:
            raise _fail(path, n, f"unknown bone {name!r} (not in {asf.path.name})")
        if len(vals) != width[name]:
            msg = f"bone {name!r} has {width[name]} degrees of freedom in the ASF, got {len(vals)} values"
            raise _fail(path, n, msg)
        if name in seen:
            raise _fail(path, n, f"bone {name!r} twice in frame {number}")
        seen.add(name)
        rows[name].append(vals)
    if number == 0:
        raise _fail(path, None, "no frames (expected a frame number line, then one line per bone)")
    if len(seen) != len(rows):
        missing = sorted(set(rows) - seen)
        raise _fail(path, frame_line, f"the last frame ({number}) lacks the bones {missing[:3]}")
    values = {}
    for name, r in rows.items():
        try:
            values[name] = np.array(r, dtype=np.float64).reshape(len(r), width[name])
        except ValueError:
            for k, vals in enumerate(r):
                for v in vals:
                    try:
                        float(v)
                    except ValueError:
                        msg = f"bone {name!r}, frame {k + 1}: expected a number, got {v!r}"
                        raise _fail(path, None, msg) from None
            raise
    return _Amc(number, values, degrees)


def _euler(order: str, angles: np.ndarray, degrees: bool) -> Rotation:
    """Rotation applying ``angles[:, i]`` about the fixed axis ``order[i]`` in turn (extrinsic)."""
    return Rotation.from_euler(order.lower(), angles, degrees=degrees)


def _amc_fk(asf: _Asf, amc: _Amc) -> np.ndarray:
    t = len(next(iter(amc.values.values())))
    degrees = asf.degrees if amc.degrees is None else amc.degrees
    rot: list[np.ndarray] = []  # (T, 3, 3) world rotation of each bone
    pos: list[np.ndarray] = []  # (T, 3) world position of each joint
    for i, b in enumerate(asf.bones):
        root = i == 0
        dofs = asf.root_order if root else b.dof
        vals = amc.values.get("root" if root else b.name, np.zeros((t, 0)))
        trans = np.broadcast_to(asf.root_position, (t, 3)).copy() if root else None
        angles, order, extra = [], "", np.zeros(t)
        for k, d in enumerate(dofs):
            if d.startswith("r"):
                angles.append(vals[:, k])
                order += d[1]
            elif root and d.startswith("t"):
                trans[:, "xyz".index(d[1])] += vals[:, k]
            elif d == "l":  # length change along the bone (rare)
                extra = vals[:, k]
        axis, axis_order = (asf.root_orientation, asf.root_axis) if root else (b.axis, b.axis_order)
        if i not in asf.axes:
            asf.axes[i] = _euler(axis_order, axis[None], asf.degrees).as_matrix()[0]
        c = asf.axes[i]
        m = _euler(order, np.stack(angles, 1), degrees).as_matrix() if order else np.eye(3)[None]
        local = c @ m @ c.T  # (T, 3, 3): the dof rotation expressed in the bone's axis frame
        if root:
            rot.append(np.broadcast_to(local, (t, 3, 3)))
            pos.append(trans)
        else:
            r = rot[b.parent] @ local
            rot.append(r)
            pos.append(pos[b.parent] + (r @ b.direction) * (b.length + extra)[:, None])
    return (np.stack(pos, axis=1) * asf.length_unit).astype(np.float32)


def _asf_names(asf: _Asf) -> tuple[list[str], list[int]]:
    return _side_names([b.name for b in asf.bones]), [b.parent for b in asf.bones]


_FPS_IN_NAME = re.compile(r"^HDM_.+_\d+_(\d+)$", re.I)  # HDM05: HDM_<actor>_<class>_<nnn>_<fps>


def _amc_fps(path: Path, fps: float | None) -> float:
    if fps is not None:
        return float(fps)
    m = _FPS_IN_NAME.search(path.stem)
    return float(m.group(1)) if m else 120.0


def _find_asf(amc: Path) -> Path:
    cands = sorted(amc.parent.glob("*.asf")) + sorted(amc.parent.glob("*.ASF"))
    prefix = [c for c in cands if amc.stem.lower().startswith(c.stem.lower())]
    if prefix:
        return max(prefix, key=lambda c: len(c.stem))
    if len(cands) == 1:
        return cands[0]
    raise FileNotFoundError(
        f"{amc}: cannot tell its skeleton: expected one .asf beside it, or one whose name starts the .amc's "
        f"name (e.g. HDM_bd.asf for HDM_bd_..._120.amc), found {[c.name for c in cands] or 'none'}; pass asf="
    )


def _load_asf(path: Path) -> _Asf:
    return _parse_asf_cached(str(path), path.stat().st_mtime)


@names_file("Acclaim .amc")
def read_amc_file(
    path: PathLike, asf: PathLike | None = None, target_fps: float | None = None, fps: float | None = None
) -> tuple[np.ndarray, float]:
    """Joint positions of one AMC motion on its ASF skeleton, by forward kinematics.

    Args:
        path: The ``.amc`` file.
        asf: Its ``.asf`` skeleton; default the ``.asf`` beside it whose name starts the ``.amc``'s name, or
            the only one there.
        target_fps: Resample to this rate (nearest frame); ``None`` keeps every frame.
        fps: Frame rate of the file; default from a ``_<fps>`` name ending, else 120.

    Returns:
        ``(positions (T, 31, 3) float32 in metres for the HDM05/CMU skeleton (root, then the bones), fps)``.

    Raises:
        ValueError: A malformed file; the message names the file and the line.
    """
    p = _path(path)
    tfps = _check_fps(target_fps)
    skel = _load_asf(_path(asf, "asf") if asf is not None else _find_asf(p))
    src = _amc_fps(p, fps)
    amc = _parse_amc(p, skel)
    frames = _select_frames(amc.frames, src, tfps)
    amc.values = {k: v[frames] for k, v in amc.values.items()}
    return _amc_fk(skel, amc), (tfps or src)


class _AmcItem:
    def __init__(self, files: list[Path], asfs: list[Path], joints: list[str], parents: list[int],
                 target_fps: float | None, fps: list[float]) -> None:  # fmt: skip
        self.files, self.asfs, self.joints, self.parents = files, asfs, joints, parents
        self.target_fps, self.fps = target_fps, fps

    def __call__(self, i: int) -> np.ndarray:
        f = self.files[i]
        skel = _load_asf(self.asfs[i])
        names, parents = _asf_names(skel)
        if names != self.joints or parents != self.parents:
            raise ValueError(
                f"{f}: its skeleton {self.asfs[i].name} ({len(names)} bones) differs from the first file's "
                f"({len(self.joints)}); read files with different skeletons separately"
            )
        _layout_for("asf", names, parents)  # registers a skeleton's own layout in a spawned DataLoader worker
        amc = _parse_amc(f, skel)
        keep = _select_frames(amc.frames, self.fps[i], self.target_fps)
        amc.values = {k: v[keep] for k, v in amc.values.items()}
        return _amc_fk(skel, amc)[None]


def read_amc(
    path: PathLike,
    layout: str | Layout | None = None,
    asf: PathLike | None = None,
    target_fps: float | None = 30.0,
    fps: float | None = None,
) -> SkeletonDataset:
    """Read Acclaim AMC motions (HDM05, CMU): one ``.amc`` file or a folder tree of them.

    Each motion is driven on its actor's ``.asf`` skeleton: ``asf`` when given, else the ``.asf`` beside the
    file whose name starts the motion's name (``HDM_bd.asf`` for ``HDM_bd_..._120.amc``; CMU ``01.asf`` for
    ``01_02.amc``), else the only ``.asf`` there. Items are ``(1, T, V, 3)`` joint positions in metres (root,
    then each bone's far end; the HDM05/CMU skeleton is layout ``hdm05-31``), parsed on access.

    Labels come from class folders: when ``path`` is a folder and the files lie in subfolders, each file's
    folder is its class (numbered folders in numeric order; a numbered folder's name is replaced by the
    HDM05 motion class its files share, so ``classes[0]`` is ``depositFloorR``); a ``train`` / ``test``
    folder above the class folders gives the split (HDM05: 188 / 99 clips). Names are the file names without
    ``.amc``; ``meta`` holds ``actor`` (the ``.asf`` name), ``source_fps`` and ``fps``.

    Args:
        path: An ``.amc`` file, an ``.asf`` (then the ``.amc`` files beside it whose names start with its
            name, or all of them when none does), or a folder searched recursively.
        layout: ``None`` keeps the skeleton's own layout; a layout name (``"kinect20"``, ``"ntu25"``) converts.
        asf: The skeleton file for every motion; default found beside each motion.
        target_fps: Frame rate of the items: the frame nearest each target time is kept (exact decimation for
            120 -> 30 fps); ``None`` keeps every frame. Default 30, the Kinect rate.
        fps: Frame rate of the files; default from a ``_<fps>`` name ending (HDM05 ``_120``), else 120.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset].
    """
    p = _path(path)
    tfps = _check_fps(target_fps)
    if p.is_file() and p.suffix.lower() == ".asf":
        beside = _list_files(p.parent, ".amc")
        files = [f for f in beside if f.stem.lower().startswith(p.stem.lower())] or beside
        asf, root = asf or p, p.parent
    else:
        files, root = _list_files(p, ".amc", recursive=True), p
    asfs = [_path(asf, "asf") if asf is not None else _find_asf(f) for f in files]
    joints, parents = _asf_names(_load_asf(asfs[0]))
    lay = _layout_for("asf", joints, parents)
    src = [_amc_fps(f, fps) for f in files]
    labels, folders, split = _folder_labels(root, files)
    classes = _hdm05_classes(folders, files) if folders else None
    meta = {"actor": [a.stem for a in asfs], **_fps_meta(src, tfps)}
    item = _AmcItem(files, asfs, joints, parents, tfps, src)
    return _mocap_dataset(files, item, lay, labels, split, classes, meta, layout)
