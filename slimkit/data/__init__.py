"""Read skeleton data sets in their original formats into one [`SkeletonDataset`][slimkit.data.SkeletonDataset].

``load(path)`` recognises the format of a file or a folder and returns a
[`SkeletonDataset`][slimkit.data.SkeletonDataset] whose items
are ``(sequence, label)``: ``sequence`` is a float32 numpy array ``(M, T, V, C)`` (persons, frames, joints,
channels), ``label`` an int (``-1`` when unknown). Supported formats and their readers:

| format | reader | layout |
|---|---|---|
| NTU RGB+D `.skeleton` (file or folder) | `read_ntu_skeleton` | `ntu25` |
| CTR-GCN / MAMP `.npz` | `read_npz` | `ntu25` (default) |
| pyskl / mmaction2 annotation `.pkl` | `read_pyskl` | from V and C |
| NW-UCLA `.json` (file or `all_sqe/`) | `read_nwucla` | `kinect20` |
| Penn Action `.mat` (file or `labels/`) | `read_penn_action` | `penn13` |
| plain `.npy` (file or folder) | `read_npy` | from V and C |

One convention for every reader: **missing is NaN**. A joint is missing when the file says so (Penn Action
visibility 0, a pyskl keypoint score ``<= min_score``) or when all of its coordinates are exactly 0 (the
zero filling that NTU-style files use for absent persons and frames). Person slots are kept as the source
stores them (an absent second person of a CTR-GCN row is an all-NaN person); zero-padded frames at the end of
fixed-length arrays are cut off, so ``T`` differs between items.

Pickles can run arbitrary code when loaded: [`read_pyskl`][slimkit.data.read_pyskl] therefore unpickles
through a restricted unpickler that admits only builtin containers and numpy arrays, dtypes and scalars (what
pyskl files hold) and refuses any other object with an error naming it. ``trust_pickle=True``
(``--trust-pickle`` on the command line) lifts the restriction, for files you made yourself or trust.

The package has one module per format (``ntu``, ``npz``, ``pyskl``, ``nwucla``, ``penn``, ``npy``,
``kindergator``, and ``mocap/`` for BVH and ASF/AMC), ``dataset`` for
[`SkeletonDataset`][slimkit.data.SkeletonDataset], ``batching`` for [`collate`][slimkit.data.collate] and
``formats`` for [`load`][slimkit.data.load]; every public name is importable from ``slimkit.data``.
"""

from __future__ import annotations

from ._common import PathLike as PathLike  # the path type the readers take
from .batching import PrepareCollate, collate
from .dataset import SkeletonDataset
from .formats import load, load_dataset
from .kindergator import KINDER_GATOR_CLASSES, KINECT_V1_CSV_JOINTS, read_kinder_gator, read_kinect_v1_csv
from .mocap import detect_reader, layout_from_hierarchy, read_amc, read_amc_file, read_bvh, read_bvh_file
from .npy import read_npy
from .npz import read_npz
from .ntu import read_ntu_skeleton, read_ntu_skeleton_file
from .nwucla import _NWUCLA_ACTION_IDS as _NWUCLA_ACTION_IDS  # tests check names against the action ids
from .nwucla import NWUCLA_CLASSES, read_nwucla
from .penn import PENN_ACTION_CLASSES, read_penn_action
from .pyskl import read_pyskl, write_pyskl

__all__ = [
    "SkeletonDataset",
    "load",
    "load_dataset",
    "collate",
    "PrepareCollate",
    "read_ntu_skeleton",
    "read_ntu_skeleton_file",
    "read_npz",
    "read_pyskl",
    "read_nwucla",
    "read_penn_action",
    "read_npy",
    "write_pyskl",
    "NWUCLA_CLASSES",
    "PENN_ACTION_CLASSES",
    # motion capture and Kinder-Gator (documented on their own pages)
    "read_bvh",
    "read_bvh_file",
    "read_amc",
    "read_amc_file",
    "detect_reader",
    "layout_from_hierarchy",
    "read_kinder_gator",
    "read_kinect_v1_csv",
    "KINDER_GATOR_CLASSES",
    "KINECT_V1_CSV_JOINTS",
]
