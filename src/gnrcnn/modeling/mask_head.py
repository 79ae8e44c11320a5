"""Mask head (FCN): four conv + norm + ReLU, a 2x2 transposed conv + ReLU, per-class 1x1 logits.

Shapes: pooled RoIs (R, C, 14, 14) -> mask logits (R, K, 28, 28).
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from .norm import ConvNorm, NormLayer, run_blocks


class MaskHead(nn.Module):
    def __init__(
        self, *, num_classes: int, in_channels: int = 256, num_convs: int = 4, channels: int = 256,
        norm: NormLayer | None,
    ) -> None:  # fmt: skip
        super().__init__()
        chans = [in_channels] + [channels] * num_convs
        self.convs = nn.ModuleList(ConvNorm(a, b, 3, norm=norm, relu=True) for a, b in pairwise(chans))
        self.upsample = nn.ConvTranspose2d(chans[-1], channels, 2, stride=2)
        self.logits = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(F.relu(self.upsample(run_blocks(self.convs, x))))


def select_class(mask_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(R, K, M, M) logits -> (R, M, M): each RoI's map for its own class."""
    return mask_logits[torch.arange(labels.numel(), device=labels.device), labels]
