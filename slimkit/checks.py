"""Checks that real data pass before a long run: usable sequences, channels, and the file behind an item.

Real sets contain sequences that no model can read: Penn Action's ``1516.mat`` has no visible joint in any
frame. Preprocessing refuses such a sequence (it has nothing to centre, scale or embed), so a run that meets
one in its 829th item would stop there. These helpers find them first, so that a command can skip them with
one warning each and count them in its summary, and they name the *file* an item came from rather than its
position in a dataset.

The placeholder policy of `slimkit embed` builds on [`usable_mask`][slimkit.checks.usable_mask]: a sequence
with no usable joint keeps its row, that row is all zeros (cosine similarity 0 to everything, never ``NaN``),
and the ``valid`` list of the ``.json`` sidecar is ``false`` for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._arrays import missing_joints

__all__ = ["TWO_D_LAYOUTS", "usable_mask", "Screened", "data_channels", "infer_in_channels", "SourceFiles"]

TWO_D_LAYOUTS = frozenset({"coco17", "openpose18", "penn13", "hand21"})
"""Layouts of image keypoints: their 3-channel data are ``(x, y, score)``, not ``(x, y, z)``."""


def _sequence(item: Any) -> np.ndarray:
    if isinstance(item, tuple) and len(item) == 2 and not isinstance(item[0], (int, float)):
        item = item[0]
    return np.asarray(item)


def usable_mask(
    sequences: Sequence[Any],
    in_channels: int | None = None,
    min_score: float = 0.0,
) -> np.ndarray:
    """Which sequences hold at least one usable joint in at least one frame.

    A joint is usable when its coordinates are finite and not all exactly zero (zero is how most formats
    pad); with ``in_channels=2`` and 3-channel ``(x, y, score)`` data, its score must also exceed
    ``min_score``. These are the joints that [`slimkit.preprocessing.standardize`][] keeps, so a sequence
    marked ``False`` is one that preprocessing would refuse.

    Args:
        sequences: A dataset of ``(sequence, label)`` items or a list of sequences ``(T, V, C)`` /
            ``(M, T, V, C)``.
        in_channels: The model's input channels; ``2`` reads a third channel as a score. ``None`` treats
            every channel as a coordinate.
        min_score: Score threshold for ``(x, y, score)`` data read with ``in_channels=2``.

    Returns:
        ``(N,)`` bool array, ``True`` for a usable sequence.
    """
    out = np.zeros(len(sequences), dtype=bool)
    for i in range(len(sequences)):
        a = _sequence(sequences[i])
        if a.size == 0 or a.ndim < 2:
            continue
        a = a.astype(np.float64, copy=False)
        ok = np.ones(a.shape[:-1], dtype=bool)
        if in_channels == 2 and a.shape[-1] == 3:
            ok &= a[..., 2] > min_score
            a = a[..., :2]
        ok &= ~missing_joints(a)
        out[i] = bool(ok.any())
    return out


def data_channels(sequences: Sequence[Any], mask: np.ndarray | None = None) -> int:
    """The channel count ``C`` of the data, read from the first (usable) sequence.

    Args:
        sequences: A dataset of ``(sequence, label)`` items or a list of sequences.
        mask: Optional usable-sequence mask from [`usable_mask`][slimkit.checks.usable_mask]; the first
            ``True`` item is read.

    Returns:
        ``C``, the size of the last axis.
    """
    first = int(np.argmax(mask)) if mask is not None and mask.any() else 0
    return int(_sequence(sequences[first]).shape[-1])


def infer_in_channels(channels: int, layout: str) -> int:
    """The ``in_channels`` a model needs for data with ``channels`` values per joint in ``layout``.

    ``C = 2`` is ``(x, y)``: ``in_channels=2``. ``C = 3`` is ``(x, y, score)`` for an image-keypoint layout
    ([`TWO_D_LAYOUTS`][slimkit.checks.TWO_D_LAYOUTS]), read by a 2-D model that drops low-score joints, and
    ``(x, y, z)`` otherwise.

    Args:
        channels: Values per joint in the data (2 or 3).
        layout: The data's layout name.

    Returns:
        2 or 3.
    """
    if channels == 2:
        return 2
    if channels == 3:
        return 2 if layout in TWO_D_LAYOUTS else 3
    raise ValueError(f"data: expected 2 (x, y) or 3 (x, y, z / x, y, score) values per joint, got {channels}")


class SourceFiles:
    """Maps a dataset item to the file it was read from, for messages that name files.

    Folder-based formats (Penn Action ``labels/``, NW-UCLA ``.json``, NTU ``.skeleton``, folders of ``.npy``)
    name each sequence after its file; single-file formats (``.pkl``, ``.npz``, a batch ``.npy``) hold every
    sequence in one file, so the name is given as ``file: name``.

    Args:
        path: The file or folder the dataset was loaded from.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._files: dict[str, Path] | None = None

    def __call__(self, name: str) -> str:
        """The file holding the sequence named ``name`` (or ``path: name`` inside a single file).

        Args:
            name: The sequence's name (``dataset.names[i]``).

        Returns:
            A path string.
        """
        if self.path.is_dir():
            if self._files is None:
                self._files = {}
                for f in sorted(self.path.rglob("*")):
                    if f.is_file():
                        self._files.setdefault(f.stem, f)
            f = self._files.get(str(name))
            if f is not None:
                return str(f)
        return f"{self.path}: sequence {name!r}"


class Screened(Sequence):
    """A read-once view of ``sequences`` that stands in for unusable ones, so one pass embeds everything.

    Item ``i`` is the sequence itself when it has a usable joint (see
    [`usable_mask`][slimkit.checks.usable_mask]), else a one-frame stand-in whose joints are all valid, so
    that preprocessing accepts it; the embedding computed for a stand-in is meaningless and must be replaced
    (``slimkit embed`` writes zeros). ``usable`` records what was found as items are read: reading the
    sequences once (as ``SLiMEncoder.embed`` does) both embeds them and screens them, with no second pass
    over slow, lazily read formats.

    Args:
        sequences: A dataset of ``(sequence, label)`` items or a list of sequences.
        in_channels: The model's input channels (see [`usable_mask`][slimkit.checks.usable_mask]).
        min_score: Score threshold for ``(x, y, score)`` data read with ``in_channels=2``.

    Attributes:
        usable: ``(N,)`` bool, ``True`` for usable sequences (and for items not read yet).
    """

    def __init__(self, sequences: Sequence[Any], in_channels: int | None = None, min_score: float = 0.0) -> None:
        self.sequences, self.in_channels, self.min_score = sequences, in_channels, min_score
        self.usable = np.ones(len(sequences), dtype=bool)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        a = _sequence(self.sequences[i])
        if usable_mask([a], self.in_channels, self.min_score)[0]:
            self.usable[i] = True
            return a
        self.usable[i] = False
        stand_in = np.ones((1, 1) + a.shape[-2:], dtype=np.float32)
        if self.in_channels == 2 and a.shape[-1] == 3:
            stand_in[..., 2] = self.min_score + 1.0
        return stand_in
