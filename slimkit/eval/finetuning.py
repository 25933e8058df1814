"""Full fine-tuning on MAMP's recipe: [`finetune`][slimkit.eval.finetune] trains a copy of the encoder with a
linear head on the pooled embedding."""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._utils import check_number, check_positive_int, default_device
from ._loop import _accuracy, _train_epochs
from .inputs import CENTER_CROP, MIN_CROP_FRAMES, ROTATION, TRAIN_CROP, _center_features, _label_indices, _skeleton_pair
from .result import EvalResult

if TYPE_CHECKING:  # pragma: no cover
    from ..model import SLiMEncoder

__all__ = ["finetune"]

_MISSING: Any = object()


class _Classifier(nn.Module):
    """Encoder + head: prepared skeletons ``(N, M, T, V, C)`` -> logits ``(N, classes)``."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.encode(x))


def _layer_decay_groups(model: _Classifier, weight_decay: float, layer_decay: float) -> list[dict[str, Any]]:
    """MAMP's ``param_groups_lrd``: lr scale ``layer_decay ** (L + 1 - layer)``, no decay on 1-D params."""
    num_layers = len(model.encoder.blocks) + 1
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("encoder.blocks."):
            layer = int(name.split(".")[2]) + 1
        elif name.startswith("encoder.") and not name.startswith("encoder.norm"):
            layer = 0  # token embedding, positions, mask token
        else:
            layer = num_layers  # final norm and head
        decay = p.ndim > 1
        g = groups.setdefault(
            (layer, decay),
            {
                "params": [],
                "weight_decay": weight_decay if decay else 0.0,
                "lr_scale": layer_decay ** (num_layers - layer),
            },
        )
        g["params"].append(p)
    return list(groups.values())


def _renamed(new: Any, old: Any, new_name: str, old_name: str) -> Any:
    """``new``, or the value given under the deprecated keyword ``old_name`` (with a DeprecationWarning)."""
    if old is _MISSING:
        if new is _MISSING:
            raise TypeError(f"finetune() missing required argument: {new_name!r}")
        return new
    if new is not _MISSING:
        raise TypeError(f"finetune(): give {new_name}= only (not also its old name {old_name}=)")
    warnings.warn(f"finetune: {old_name}= is renamed {new_name}= (it takes skeletons, not embeddings); the old "
                  "keyword will be removed", DeprecationWarning, stacklevel=3)
    return old


def finetune(
    train_skeletons: Any = _MISSING,
    train_labels: Any = None,
    test_skeletons: Any = _MISSING,
    test_labels: Any = None,
    *,
    encoder: SLiMEncoder | None = None,
    epochs: int = 100,
    batch_size: int = 48,
    lr: float = 5e-4,
    min_lr: float = 1e-6,
    weight_decay: float = 0.05,
    layer_decay: float = 0.8,
    warmup_epochs: int = 5,
    label_smoothing: float = 0.1,
    drop_path: float = 0.3,
    head_dropout: float = 0.3,
    augment: bool = True,
    device: str | torch.device | None = None,
    seed: int = 0,
    input_format: str = "auto",
    embed_batch_size: int = 64,
    train_emb: Any = _MISSING,
    test_emb: Any = _MISSING,
) -> EvalResult:
    """Full fine-tuning of a copy of the encoder with a linear head, on MAMP's recipe.

    MAMP's recipe (NTU configs): AdamW, lr 5e-4 at an effective batch of 48 (24 per GPU x 2), weight decay
    0.05 (none on 1-D parameters), layer-wise lr decay 0.8, 5 warm-up epochs then per-iteration cosine to
    1e-6, label smoothing 0.1, stochastic depth rising linearly to 0.3 over the blocks, dropout 0.3 before the
    head, 100 epochs, train views = random crop + rotation, test view = centre crop; top-1 after the last
    epoch. One difference: MAMP's head is an MLP over per-joint features (2048 hidden units + BatchNorm); here
    the head is ``Dropout + Linear`` on the pooled embedding, which is what the embedding serves.

    The caller's encoder is not modified: the result's ``model`` holds the fine-tuned copy.

    Args:
        train_skeletons: Train skeletons (anything [`SLiMEncoder.embed`][slimkit.model.SLiMEncoder.embed]
            accepts): fine-tuning needs raw skeletons, not embeddings. Positional calls work as before.
        train_labels: ``N`` labels (int or str); ``None`` reads ``train_skeletons.labels``.
        test_skeletons: Test skeletons.
        test_labels: ``Q`` labels; ``None`` reads ``test_skeletons.labels``.
        encoder: The encoder to fine-tune (required).
        epochs: Training epochs.
        batch_size: Samples per step.
        lr: Peak learning rate (before layer decay).
        min_lr: Final learning rate of the cosine schedule.
        weight_decay: AdamW weight decay on matrices.
        layer_decay: Layer-wise lr decay factor (1 disables it).
        warmup_epochs: Linear warm-up epochs.
        label_smoothing: Cross-entropy label smoothing.
        drop_path: Stochastic depth rate of the last block (linear from 0 over the blocks).
        head_dropout: Dropout before the linear head.
        augment: Random MAMP train views (``False``: the centre view).
        device: Torch device (default: CUDA when available).
        seed: Seed of the head's initialisation, the batch order, the augmentations and dropout.
        input_format: Axis order of array input.
        embed_batch_size: Sequences per forward pass when evaluating.
        train_emb: Deprecated name of ``train_skeletons`` (a ``DeprecationWarning``).
        test_emb: Deprecated name of ``test_skeletons`` (a ``DeprecationWarning``).

    Returns:
        An [`EvalResult`][slimkit.eval.EvalResult]; ``model`` maps prepared skeletons ``(N, M, T, V, C)`` to
        logits.

    Raises:
        ValueError: ``encoder`` is missing (fine-tuning changes the encoder, so embeddings are not enough).
    """
    train_skeletons = _renamed(train_skeletons, train_emb, "train_skeletons", "train_emb")
    test_skeletons = _renamed(test_skeletons, test_emb, "test_skeletons", "test_emb")
    if encoder is None:
        raise ValueError(
            "encoder: finetune trains the encoder's weights, so it needs encoder= and raw skeletons; "
            "for precomputed embeddings use linear_probe (frozen features)"
        )
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    warmup_epochs = check_positive_int(warmup_epochs, "warmup_epochs", 0)
    lr, min_lr = check_number(lr, "lr", 0.0), check_number(min_lr, "min_lr", 0.0)
    weight_decay = check_number(weight_decay, "weight_decay", 0.0)
    layer_decay = check_number(layer_decay, "layer_decay", 0.0, 1.0)
    label_smoothing = check_number(label_smoothing, "label_smoothing", 0.0, 1.0)
    drop_path = check_number(drop_path, "drop_path", 0.0, 0.99)
    head_dropout = check_number(head_dropout, "head_dropout", 0.0, 0.99)
    dev = default_device(device)
    g = torch.Generator().manual_seed(seed)
    sk_train, sk_test = _skeleton_pair(train_skeletons, test_skeletons, encoder, input_format)
    classes, y_train, y_test = _label_indices(train_labels, train_skeletons, len(sk_train), test_labels,
                                              test_skeletons, len(sk_test))
    enc = copy.deepcopy(encoder)
    depth = len(enc.blocks)
    for i, blk in enumerate(enc.blocks):
        blk.drop_path = drop_path * i / max(depth - 1, 1)
    head = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(enc.embed_dim, len(classes)))
    with torch.no_grad():
        head[1].weight.copy_(nn.init.xavier_uniform_(torch.empty(len(classes), enc.embed_dim), generator=g))
        head[1].bias.zero_()
    model = _Classifier(enc, head).to(dev)
    opt = torch.optim.AdamW(_layer_decay_groups(model, weight_decay, layer_decay), lr=lr)
    y_t = torch.from_numpy(y_train)
    n_train = len(sk_train)

    def batch_loss(idx: np.ndarray) -> torch.Tensor:
        x = sk_train.train_views(idx, g, augment).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            logits = model(x).float()
        return F.cross_entropy(logits, y_t[idx].to(dev), label_smoothing=label_smoothing)

    cpu_rng = torch.get_rng_state()
    torch.manual_seed(seed)  # dropout and drop path draw from the global generator
    try:
        _train_epochs(model, opt, batch_loss, n_train, batch_size, epochs, warmup_epochs, lr, min_lr, g,
                      "finetune")
    finally:
        torch.set_rng_state(cpu_rng)
    model.eval()
    feats = _center_features(enc, sk_test, dev, embed_batch_size)
    with torch.no_grad():
        logits = head(feats.to(dev)).cpu()
    top1, top5 = _accuracy(logits, y_test)
    protocol = (
        f"fine-tuning (MAMP recipe, linear head): AdamW lr {lr:g} (batch {batch_size}, drop last), wd "
        f"{weight_decay:g} (none on 1-D params), layer decay {layer_decay:g}, warm-up {warmup_epochs} epochs "
        f"then per-iteration cosine to {min_lr:g}, label smoothing {label_smoothing:g}, drop path "
        f"{drop_path:g}, head dropout {head_dropout:g}, {epochs} epochs; train views: "
        + (
            f"crop p~U{list(TRAIN_CROP)} (>= {MIN_CROP_FRAMES} frames) + rotation "
            f"U[-{ROTATION}, {ROTATION}] rad"
            if augment
            else f"centre crop p={CENTER_CROP}"
        )
        + f"; test view: centre crop p={CENTER_CROP}; top-1 after the last epoch; train {n_train} / test "
        f"{len(sk_test)}; seed {seed}"
    )
    return EvalResult(
        top1,
        protocol,
        {
            "top5": top5,
            "num_train": n_train,
            "num_test": len(sk_test),
            "num_classes": len(classes),
            "epochs": epochs,
        },
        model=model,
        classes=classes,
    )
