"""Motion capture in: BVH and Acclaim ASF/AMC readers with forward kinematics.

Mocap files store joint *rotations* on a skeleton, not joint positions. The readers here compute the
positions by forward kinematics, with `scipy.spatial.transform.Rotation` doing every Euler
conversion, and return the usual [`SkeletonDataset`][slimkit.data.SkeletonDataset] (items ``(1, T, V, 3)`` float32).

* **BVH** ([`read_bvh`][slimkit.data.mocap.read_bvh]): a ``HIERARCHY`` of joints with ``OFFSET`` and ``CHANNELS``, then
  ``MOTION`` (``Frames:``, ``Frame Time:`` and one line of channel values per frame). Rotation channels are Euler angles
  in degrees applied in the order the file lists them about the joint's own, moving axes: ``Zrotation Xrotation
  Yrotation`` is the intrinsic sequence ``"ZXY"``, ``R = Rz @ Rx @ Ry``. A joint's local translation is its ``OFFSET``,
  replaced by its position channels when it has some (the Bandai-Namco files give every joint position channels that
  repeat its offset; only the hips move). ``End Site`` points are left out unless ``end_sites=True``.
* **Acclaim ASF/AMC** ([`read_amc`][slimkit.data.mocap.read_amc]): the ``.asf`` skeleton gives each bone a rest
  ``direction``, ``length`` and ``axis`` frame ``C``; the ``.amc`` motion gives, per frame, the root's translation and
  rotation and the other bones' ``dof`` angles. A bone turns by ``C @ M @ C^-1`` in its parent's frame, ``M`` the Euler
  rotation of its dofs applied in the listed order about fixed axes (``rx ry rz``: ``Rz @ Ry @ Rx``, the CMU/Acclaim
  convention). A joint is the far end of its bone, and the root joint the root position. ``:units length L`` means one
  file unit is ``1 / L`` inch (HDM05 and CMU: ``L = 0.45``, 0.0564 m).

Positions come out in metres, in the capture's world frame (y up for both sets here; not turned towards a
camera: models with ``view_align`` turn them). The frame rate is the file's (BVH ``Frame Time``; AMC: the
``_<fps>`` ending of HDM05 names (``HDM_bd_squat1Reps_001_120.amc``), else 120, the CMU and HDM05 rate), and
``target_fps`` (default **30**, the Kinect rate) resamples by taking the frame nearest each target time,
which is exact decimation for 120 -> 30 fps and keeps the skeleton rigid; ``target_fps=None`` keeps every
frame. ``meta`` records ``fps`` (of the items) and ``source_fps``.

Known skeletons get a named layout: the HDM05 / CMU ASF skeleton is ``hdm05-31``, the Bandai-Namco BVH
skeleton ``bvh-bandai22``; both convert to ``kinect20`` and ``ntu25`` by nearest joints (table in the docs'
data formats page), so ``dataset.to_layout("kinect20")`` or ``layout="kinect20"`` feeds them to Kinect models.
Any other hierarchy gets a layout built from the file
([`layout_from_hierarchy`][slimkit.data.mocap.layout_from_hierarchy]): joint names with their side marker
(``_L``, ``Left...``, ``l...``) turned into an ``l_`` / ``r_`` prefix, parts from the tree.

Labels: a BVH file's sidecar ``.json`` with ``content`` (Bandai-Namco; class names from
``cfg/content_label.txt`` when found), else the folder the file lies in when a folder was read and the file
lies below it (HDM05's ``train/<class>/`` folders); a folder two levels up named ``train`` / ``test`` /
``val`` makes the split.

Modules: ``bvh`` and ``asf_amc`` read a format each,
``skeleton`` holds what they share (layouts from a hierarchy, resampling, units), ``sets`` the labels and splits
of the HDM05 and Bandai-Namco sets, ``detect`` tells the reader of a path.
"""

from __future__ import annotations

from .asf_amc import read_amc, read_amc_file
from .bvh import read_bvh, read_bvh_file
from .detect import detect_reader
from .skeleton import layout_from_hierarchy

__all__ = [
    "read_bvh",
    "read_amc",
    "read_bvh_file",
    "read_amc_file",
    "detect_reader",
    "layout_from_hierarchy",
]
