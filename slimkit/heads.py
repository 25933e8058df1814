"""Small heads used by SLiM pretraining (not part of a saved encoder).

* [`ProjectionHead`][slimkit.heads.ProjectionHead]: ``Linear -> LayerNorm -> GELU -> Linear``. Used as the
masked-feature predictor
  (token width -> token width), the contrastive projector (embedding -> ``proj_dim``) and the student-only
  predictor on top of it (``proj_dim -> proj_dim``, as in MoCo v3 / BYOL).

LayerNorm instead of BatchNorm keeps every sample's output independent of the rest of the batch, so a
distributed run computes exactly what one process would on the same global batch.
"""

from __future__ import annotations

import torch
from torch import nn

from ._utils import check_positive_int

__all__ = ["ProjectionHead"]


class ProjectionHead(nn.Module):
    """Two-layer MLP head: ``Linear(in_dim, hidden_dim) -> LayerNorm -> GELU -> Linear(hidden_dim, out_dim)``.

    Args:
        in_dim: Input width.
        hidden_dim: Hidden width.
        out_dim: Output width.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        for name, v in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            check_positive_int(v, name)
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.norm = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, out_dim)
        for m in (self.fc1, self.fc2):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(..., in_dim)`` to ``(..., out_dim)``.

        Args:
            x: Features ``(..., in_dim)``.

        Returns:
            ``(..., out_dim)``.
        """
        return self.fc2(self.act(self.norm(self.fc1(x))))
