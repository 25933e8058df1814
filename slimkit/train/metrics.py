"""Metrics of a pretraining run: windowed loss means, ``metrics.jsonl`` and TensorBoard (rank 0 writes)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .._utils import atomic_write_text, rank, world_size

__all__ = ["MetricsLog"]


class MetricsLog:
    """Sums the loss terms of the steps since the last record; writes records to ``metrics.jsonl`` (and
    TensorBoard) on rank 0 and appends them to ``history`` on every rank.

    Args:
        output_dir: The run folder.
        history: List the records are appended to (the Trainer's ``history``).
        device: Device of the loss tensors (the window sums stay there: no host sync per step).
        tensorboard: ``True``: TensorBoard required; ``None``: when installed; ``False``: never.
    """

    def __init__(self, output_dir: Path, history: list[dict[str, Any]], device: torch.device,
                 tensorboard: bool | None = None) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self.history = history
        self.writer = _tensorboard(Path(output_dir), tensorboard)
        self._sums = torch.zeros(4, device=device, dtype=torch.float64)
        self._steps, self._t0 = 0, time.perf_counter()

    def add(self, loss: torch.Tensor, parts: dict[str, torch.Tensor]) -> None:
        """Count one step's ``loss`` and its ``mfm`` / ``glcl`` / ``motion`` parts (a missing part counts 0)."""
        self._sums += torch.stack([loss, parts["mfm"], parts["glcl"], parts.get("motion", torch.zeros_like(loss))]
                                  ).double()
        self._steps += 1

    def flush(self, step: int, epoch: float, lr: float, momentum: float, batch_size: int) -> dict[str, Any] | None:
        """Write the mean of the window (over every process too) as one record; ``None`` for an empty window.

        A collective under ``torch.distributed``: every process calls it at the same steps.
        """
        if self._steps == 0:
            return None
        sums = self._sums.clone()
        if world_size() > 1:
            dist.all_reduce(sums)
            sums /= world_size()
        elapsed = time.perf_counter() - self._t0
        mean = (sums / self._steps).tolist()
        record = {
            "step": step,
            "epoch": epoch,
            "loss": mean[0],
            "mfm": mean[1],
            "glcl": mean[2],
            "motion": mean[3],
            "lr": lr,
            "momentum": momentum,
            "samples_per_s": self._steps * batch_size / max(elapsed, 1e-9),
        }
        self.write(record)
        self._sums = torch.zeros_like(self._sums)
        self._steps, self._t0 = 0, time.perf_counter()
        return record

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` to the history, and on rank 0 to ``metrics.jsonl`` and TensorBoard."""
        self.history.append(record)
        if rank() != 0:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.writer.add_scalar(f"pretrain/{k}", v, record["step"])

    def trim(self, step: int) -> None:
        """Drop records written after ``step`` (a killed run wrote them before its next checkpoint)."""
        if rank() != 0 or not self.path.exists():
            return
        keep = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
        atomic_write_text(self.path, "".join(k + "\n" for k in keep))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _tensorboard(output_dir: Path, wanted: bool | None) -> Any:
    if rank() != 0 or wanted is False:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter  # optional dependency
    except ImportError:
        if wanted:
            raise ImportError("tensorboard=True but TensorBoard is not installed (pip install tensorboard)") from None
        return None
    return SummaryWriter(str(output_dir / "tensorboard"))
