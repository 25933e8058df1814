"""The supervised loop the linear probe and fine-tuning share: MAMP's batches, its per-iteration schedule, and
top-1 / top-5 of the final logits."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .._utils import warmup_cosine

log = logging.getLogger("slimkit.eval")


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """One epoch of shuffled batches, the last partial one dropped as in MAMP (all ``n`` if ``n < batch``)."""
    perm = torch.randperm(n, generator=generator).numpy()
    if n < batch_size:
        return [perm]
    return [perm[s : s + batch_size] for s in range(0, n - batch_size + 1, batch_size)]


def _steps_per_epoch(n: int, batch_size: int) -> int:
    return len(_batches(n, batch_size, torch.Generator().manual_seed(0)))


def _train_epochs(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    batch_loss: Callable[[np.ndarray], torch.Tensor],
    n_train: int,
    batch_size: int,
    epochs: int,
    warmup_epochs: int,
    lr: float,
    min_lr: float,
    generator: torch.Generator,
    name: str,
    disable: bool | None = True,
) -> None:
    """``epochs`` of shuffled batches (drawn from ``generator``); before each step every parameter group's lr
    is set to MAE's ``lr_sched`` (linear warm-up from 0, then half-cycle cosine to ``min_lr``) times its
    ``lr_scale`` (1 when absent); ``batch_loss(idx)`` returns the loss of one batch of indices."""
    steps = _steps_per_epoch(n_train, batch_size)
    total, warm = epochs * steps, warmup_epochs * steps
    step = 0
    bar = tqdm(range(epochs), desc=name.replace("_", " "), unit="epoch", disable=disable)
    for epoch in bar:
        model.train()
        loss_sum = 0.0
        for idx in _batches(n_train, batch_size, generator):
            cur = warmup_cosine(step, total, warm, lr, min_lr)
            for group in opt.param_groups:
                group["lr"] = cur * group.get("lr_scale", 1.0)
            loss = batch_loss(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            step += 1
        mean_loss = loss_sum / steps
        bar.set_postfix(loss=f"{mean_loss:.4f}")
        log.info("%s epoch %d/%d loss %.4f", name, epoch + 1, epochs, mean_loss)
    bar.close()


@torch.no_grad()
def _accuracy(logits: torch.Tensor, y: np.ndarray) -> tuple[float, float]:
    y_t = torch.as_tensor(y)
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    top1 = (top[:, 0] == y_t).float().mean().item()
    top5 = (top == y_t[:, None]).any(1).float().mean().item()
    return top1, top5
