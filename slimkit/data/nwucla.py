"""NW-UCLA ``.json`` sequences (CTR-GCN's ``all_sqe/``): one Kinect v1 person per file, with the standard
cross-view split."""

from __future__ import annotations

import json
import re

import numpy as np

from .._arrays import mark_missing
from .._errors import names_file
from ..layouts import Layout
from ._common import PathLike, _fixed_files
from .dataset import SkeletonDataset

__all__ = ["read_nwucla", "NWUCLA_CLASSES"]

NWUCLA_CLASSES = (
    "pick up with one hand",
    "pick up with two hands",
    "drop trash",
    "walk around",
    "sit down",
    "stand up",
    "donning",
    "doffing",
    "throw",
    "carry",
)
"""NW-UCLA class names in label order (action ids 1, 2, 3, 4, 5, 6, 8, 9, 11, 12)."""
_NWUCLA_ACTION_IDS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)

_NWUCLA_NAME = re.compile(r"a(\d+)_s(\d+)_e(\d+)_v(\d+)")


@names_file("NW-UCLA .json")
def read_nwucla(path: PathLike, layout: str | Layout | None = None) -> SkeletonDataset:
    """Read NW-UCLA sequences: one ``.json`` file or a folder of them (``all_sqe/``, as in CTR-GCN).

    Each file holds ``file_name`` (``aAA_sSS_eEE_vVV``), a 1-based ``label`` and ``skeletons`` ``T x 20 x 3``
    (one person, Kinect v1, metres). Items are ``(1, T, 20, 3)`` (``T`` may be 1); labels are 0-based
    (``label - 1``); ``classes`` are [`NWUCLA_CLASSES`][slimkit.data.NWUCLA_CLASSES]. The split is the standard
    cross-view one:
    ``train`` = views 1 and 2, ``test`` = view 3. ``meta`` holds ``action``, ``subject``, ``repetition``
    and ``view`` parsed from the name.

    Args:
        path: A ``.json`` file or a folder of them.
        layout: Must be ``None`` or ``"kinect20"``.

    Returns:
        A [`SkeletonDataset`][slimkit.data.SkeletonDataset] in the ``kinect20`` layout.
    """
    p, lay, files = _fixed_files(path, layout, "kinect20", ".json")
    seqs, labels, names = [], [], []
    meta: dict[str, list[int]] = {"action": [], "subject": [], "repetition": [], "view": []}
    for f in files:
        try:
            d = json.loads(f.read_text())
            a = np.array(d["skeletons"], dtype=np.float32)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, RecursionError) as e:
            raise ValueError(
                f"{f}: not an NW-UCLA json (file_name, label, skeletons T x 20 x 3): {type(e).__name__}: {e}"
            ) from None
        if a.ndim != 3 or a.shape[1:] != (20, 3) or a.shape[0] == 0:
            raise ValueError(f"{f}: skeletons: expected shape (T, 20, 3) with T >= 1, got {a.shape}")
        name = str(d.get("file_name", f.stem))
        m = _NWUCLA_NAME.search(name)
        fields = tuple(map(int, m.groups())) if m else (-1, -1, -1, -1)
        if "label" in d:
            raw = d["label"]
            if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= len(NWUCLA_CLASSES):
                raise ValueError(
                    f"{f}: label: expected an int in 1..{len(NWUCLA_CLASSES)} (NW-UCLA's 1-based classes), "
                    f"got {raw!r}"
                )
            label = raw - 1
            if fields[0] in _NWUCLA_ACTION_IDS and _NWUCLA_ACTION_IDS.index(fields[0]) != label:
                raise ValueError(
                    f"{f}: label {raw} contradicts file_name {name!r}: action a{fields[0]:02d} is label "
                    f"{_NWUCLA_ACTION_IDS.index(fields[0]) + 1}"
                )
        else:
            label = _NWUCLA_ACTION_IDS.index(fields[0]) if fields[0] in _NWUCLA_ACTION_IDS else -1
        seqs.append(mark_missing(a)[None])
        labels.append(label)
        names.append(name)
        for k, val in zip(meta, fields, strict=True):
            meta[k].append(val)
    view = np.array(meta["view"])
    split = {"train": np.flatnonzero((view == 1) | (view == 2)), "test": np.flatnonzero(view == 3)}
    return SkeletonDataset(
        seqs, labels, names, lay, split, NWUCLA_CLASSES, {k: np.array(v) for k, v in meta.items()}
    )

