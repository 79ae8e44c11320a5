"""Box head ("Shared4Conv1FC"): four conv + norm + ReLU, one fc, then class logits and class-specific deltas.

Shapes: K classes; pooled RoIs (R, C, 7, 7) -> class logits (R, K + 1) with background LAST,
class-specific deltas (R, 4K).
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from .norm import ConvNorm, NormLayer, run_blocks


class BoxHead(nn.Module):
    def __init__(
        self, *, num_classes: int, in_channels: int = 256, pool: int = 7, num_convs: int = 4,
        conv_channels: int = 256, fc_dim: int = 1024, norm: NormLayer | None,
    ) -> None:  # fmt: skip
        super().__init__()
        chans = [in_channels] + [conv_channels] * num_convs
        self.convs = nn.ModuleList(ConvNorm(a, b, 3, norm=norm, relu=True) for a, b in pairwise(chans))
        self.fc = nn.Linear(chans[-1] * pool * pool, fc_dim)
        self.cls_score = nn.Linear(fc_dim, num_classes + 1)
        self.bbox_pred = nn.Linear(fc_dim, 4 * num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = run_blocks(self.convs, x).flatten(1)
        x = F.relu(self.fc(x))
        return self.cls_score(x), self.bbox_pred(x)
