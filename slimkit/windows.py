"""Long recordings: one embedding per sliding window of frames.

``SLiMEncoder.embed`` resamples a whole sequence to the model's ``num_frames``: right for a clip of one action,
wrong for a 3,000-frame recording of many actions, which it squashes into one blurred vector (``embed`` warns
then, see [`LongSequenceWarning`][slimkit.preprocessing.LongSequenceWarning]).
[`embed_windows`][slimkit.windows.embed_windows] cuts each recording into windows of ``window`` frames every ``stride``
frames and embeds every window as its own clip, through the encoder's public ``embed()``, so the windows get exactly the
preprocessing and pooling of ``embed``.

Conventions (written down because a user relies on them):

* Frames are indices into the sequence *as given* (``0 .. T-1``), zero-padded or missing frames included, so
  a window ``[start, end)`` points back into the user's own array; ``end`` is exclusive.
* Windows start at ``0, stride, 2 * stride, ...``. Trailing frames with no valid joint (zero padding, as in
  NTU-style ``(N, M, 300, V, C)`` arrays) are not part of the recording. When the last regular window stops
  short of the end, one more window is aligned to the end, so every frame is covered. A recording shorter
  than ``window`` gives one window over all of it.
* A window in which no joint is valid (the person left the scene) has nothing to embed and is skipped; every
  other window gives one row.
* With ``fps``, ``start_time = start / fps`` and ``end_time = end / fps`` in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from ._utils import check_positive_int
from .preprocessing import SequenceSource, missing_joints

if TYPE_CHECKING:  # pragma: no cover
    from .model import SLiMEncoder

__all__ = ["WindowEmbeddings", "embed_windows", "window_bounds"]


@dataclass
class WindowEmbeddings:
    """Embeddings of the windows of one or more recordings, one row per window, in recording order.

    Attributes:
        embeddings: ``(W, D)`` float32 (L2-normalised unless ``normalize=False``).
        sequence: ``(W,)`` int64: index of the recording (in the input) that each window belongs to.
        start: ``(W,)`` int64 first frame of the window.
        end: ``(W,)`` int64 frame after the last one (exclusive).
        fps: Frames per second given to [`embed_windows`][slimkit.windows.embed_windows], or ``None``.
        window: Window length in frames.
        stride: Stride in frames.
    """

    embeddings: np.ndarray
    sequence: np.ndarray
    start: np.ndarray
    end: np.ndarray
    fps: float | None
    window: int
    stride: int

    @property
    def start_time(self) -> np.ndarray | None:
        """``(W,)`` float64 start of each window in seconds (``None`` without ``fps``)."""
        return None if self.fps is None else self.start / self.fps

    @property
    def end_time(self) -> np.ndarray | None:
        """``(W,)`` float64 end of each window in seconds (``None`` without ``fps``)."""
        return None if self.fps is None else self.end / self.fps

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])


def window_bounds(num_frames: int, window: int, stride: int) -> np.ndarray:
    """``(W, 2)`` int64 ``[start, end)`` of the windows over ``num_frames`` frames (see the module's rules).

    Args:
        num_frames: Length of the recording in frames.
        window: Window length in frames.
        stride: Frames between the starts of consecutive windows.

    Returns:
        Window bounds, sorted by start; the last window ends at ``num_frames``.
    """
    num_frames = check_positive_int(num_frames, "num_frames")
    window = check_positive_int(window, "window")
    stride = check_positive_int(stride, "stride")
    if num_frames <= window:
        return np.array([[0, num_frames]], dtype=np.int64)
    starts = np.arange(0, num_frames - window + 1, stride, dtype=np.int64)
    if starts[-1] + window < num_frames:
        starts = np.append(starts, num_frames - window)
    return np.stack([starts, starts + window], axis=1)


def _windows_of(seq: np.ndarray, window: int, stride: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(start, end, frames)`` of the windows of one ``(M, T, V, C)`` sequence that hold a valid joint."""
    valid_frames = ~missing_joints(seq).all(axis=(0, 2))  # (T,)
    if not valid_frames.any():
        return
    t_eff = int(np.flatnonzero(valid_frames)[-1]) + 1  # trailing padding is not part of the recording
    for start, end in window_bounds(t_eff, window, stride).tolist():
        if valid_frames[start:end].any():
            yield start, end, seq[:, start:end]


def embed_windows(
    encoder: SLiMEncoder,
    skeletons: Any,
    window: int,
    stride: int | None = None,
    fps: float | None = None,
    *,
    batch_size: int = 64,
    device: Any = None,
    normalize: bool = True,
    input_format: str = "auto",
    precision: str = "auto",
    show_progress_bar: bool | None = None,
) -> WindowEmbeddings:
    """Embed every window of ``window`` frames, every ``stride`` frames, of one or more recordings.

    Each window is embedded by ``encoder.embed`` as a clip of its own (its valid frames resampled to the
    model's ``num_frames``), so a window of about the length of the clips the model was trained on gives
    embeddings comparable with ``embed`` of such clips.

    Args:
        encoder: The [`SLiMEncoder`][slimkit.model.SLiMEncoder].
        skeletons: One recording ``(T, V, C)`` / ``(M, T, V, C)``, a batch ``(N, M, T, V, C)``, a list of
            recordings of any lengths, or a dataset (anything ``embed`` accepts).
        window: Window length in frames of the input.
        stride: Frames between window starts; default ``window // 2`` (half-overlapping windows).
        fps: Frame rate of the input, to report times in seconds (``WindowEmbeddings.start_time``).
        batch_size: Windows per forward pass.
        device: Torch device (default: CUDA when available).
        normalize: L2-normalise the embeddings.
        input_format: Axis order of array input (see ``SLiMEncoder.embed``).
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"`` (see ``SLiMEncoder.embed``).
        show_progress_bar: Show a progress bar over the recordings (``None``: for more than 8 of them).

    Returns:
        A [`WindowEmbeddings`][slimkit.windows.WindowEmbeddings] with one row per window that holds at least one valid
        joint.

    Raises:
        ValueError: ``window``/``stride`` not positive ints, ``fps`` not a positive number, or no window of
            any recording holds a valid joint.
    """
    window = check_positive_int(window, "window")
    stride = max(1, window // 2) if stride is None else check_positive_int(stride, "stride")
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0
                            or not np.isfinite(fps)):
        raise ValueError(f"fps: expected a positive number of frames per second, got {fps!r}")
    src = SequenceSource(skeletons, input_format, encoder.layout.num_joints, encoder.config.in_channels)
    n = len(src)
    disable = (None if n > 8 else True) if show_progress_bar is None else not show_progress_bar
    chunk = max(batch_size, 256)  # windows embedded per call: bounds memory for long inputs
    outs: list[np.ndarray] = []
    seq_idx: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if pending:
            outs.append(np.asarray(encoder.embed(
                pending, batch_size=batch_size, device=device, normalize=normalize, input_format="auto",
                precision=precision, show_progress_bar=False,
            )))
            pending.clear()

    read = 64  # recordings read per call of the source
    with tqdm(total=n, desc="embed_windows", unit="rec", disable=disable) as bar:
        for s in range(0, n, read):
            for i, seq in enumerate(src.batch(s, min(s + read, n))):
                for start, end, frames in _windows_of(seq, window, stride):
                    pending.append(frames)
                    seq_idx.append(s + i)
                    starts.append(start)
                    ends.append(end)
                    if len(pending) >= chunk:
                        flush()
                bar.update(1)
    flush()
    if not outs:
        raise ValueError("skeletons: no window of any recording holds a valid joint (all NaN, inf or zero)")
    emb = np.concatenate(outs).astype(np.float32, copy=False)
    return WindowEmbeddings(
        emb,
        np.asarray(seq_idx, dtype=np.int64),
        np.asarray(starts, dtype=np.int64),
        np.asarray(ends, dtype=np.int64),
        None if fps is None else float(fps),
        window,
        stride,
    )
