"""Labels, classes and splits of motion capture sets, and the dataset the readers return.

* HDM05 (and any set laid out alike): a file's class is the folder it lies in (``train/<class>/``), numbered
  folders take the motion class their ``HDM_<actor>_<class>_<nnn>_<fps>`` files share, and a ``train`` /
  ``test`` / ``val`` folder above the class folders makes the split.
* Bandai-Namco: a ``<name>.json`` sidecar beside each ``.bvh`` holds ``content`` (the label) and ``style``;
  the class and style names are in ``cfg/content_label.txt`` and ``cfg/style_label.txt``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...layouts import Layout
from .._common import _Lazy
from ..dataset import SkeletonDataset

_SPLIT_NAMES = ("train", "test", "val", "validation")
_HDM05_NAME = re.compile(r"^HDM_([a-z]+)_(.+)_\d+_\d+$", re.I)


def _natural(s: str) -> tuple[Any, ...]:
    return tuple(int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s))


def _folder_labels(root: Path, files: list[Path]) -> tuple[list[int], list[str] | None, dict[str, list[int]]]:
    """Labels from the folder each file lies in (when below ``root`` and there are at least two such folders),
    splits from ``train`` / ``test`` / ``val`` folders above them."""
    if not root.is_dir():
        return [-1] * len(files), None, {}
    rel = [f.relative_to(root).parts for f in files]
    split: dict[str, list[int]] = {}
    for i, r in enumerate(rel):
        if len(r) >= 3 and r[-3].lower() in _SPLIT_NAMES:
            split.setdefault(r[-3].lower(), []).append(i)
    folders = sorted({r[-2] for r in rel if len(r) >= 2}, key=_natural)
    if len(folders) < 2 or any(len(r) < 2 for r in rel):  # one subfolder (Bandai's data/) is a place, not a class
        return [-1] * len(files), None, split
    return [folders.index(r[-2]) for r in rel], folders, split


def _hdm05_classes(folders: list[str], files: list[Path]) -> list[str]:
    """A numbered class folder takes the motion class its HDM05 file names share (``1`` -> depositFloorR)."""
    out = []
    for d in folders:
        names = {m.group(2) for f in files if f.parent.name == d and (m := _HDM05_NAME.match(f.stem))}
        out.append(names.pop() if len(names) == 1 else d)
    return out


def _label_names(f: Path, name: str, up: int) -> list[str] | None:
    """The names in ``cfg/<name>`` found beside ``f`` or up to ``up`` folders above, without the
    ``dataset-N_`` prefix; ``None`` when there is no such file."""
    for d in [f.parent, *f.parent.parents][: up + 1]:
        cfg = d / "cfg" / name
        if cfg.is_file():
            return [re.sub(r"^dataset-\d+_", "", ln.strip()) for ln in cfg.read_text().splitlines() if ln.strip()]
    return None


def _bandai_labels(files: list[Path]) -> tuple[list[int], list[str] | None, dict[str, Any]] | None:
    """Labels, class names and ``meta`` (``style``, ``style_name``) from the Bandai-Namco ``.json`` sidecars,
    or ``None`` when a file has no sidecar."""
    sidecars = [f.with_suffix(".json") for f in files]
    if not all(s.is_file() for s in sidecars):
        return None
    labels, styles = [], []
    for s in sidecars:
        try:
            d = json.loads(s.read_text())
            labels.append(int(d["content"]))
            styles.append(int(d.get("style", -1)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{s}: expected a JSON object with an int 'content' (and 'style'): {e}") from None
    classes = _label_names(files[0], "content_label.txt", up=2)
    if classes is not None and max(labels) >= len(classes):
        classes = None
    meta: dict[str, Any] = {"style": np.array(styles)}
    style_names = _label_names(files[0].parent, "style_label.txt", up=0)
    if style_names is not None:
        meta["style_name"] = [style_names[s] if 0 <= s < len(style_names) else "" for s in styles]
    return labels, classes, meta


def _fps_meta(source_fps: list[float], target_fps: float | None) -> dict[str, np.ndarray]:
    """``meta`` entries ``source_fps`` (of the files) and ``fps`` (of the items)."""
    return {"source_fps": np.array(source_fps), "fps": np.array([target_fps or s for s in source_fps])}


def _mocap_dataset(files: list[Path], item: Callable[[int], np.ndarray], native: str, labels: list[int],
                   split: dict[str, list[int]], classes: list[str] | None, meta: dict[str, Any],
                   layout: str | Layout | None) -> SkeletonDataset:  # fmt: skip
    """The dataset of ``files``, each read by ``item`` on access and named by its stem, in the ``native``
    layout, converted to ``layout`` when one is given."""
    ds = SkeletonDataset(_Lazy(len(files), item), labels, [f.stem for f in files], native, split, classes, meta)
    return ds if layout is None else ds.to_layout(layout)
