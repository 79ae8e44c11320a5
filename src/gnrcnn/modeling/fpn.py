"""Feature pyramid: C2..C5 -> P2..P6 (256 channels, strides 4..64), no activations.

Shapes: C_i (N, c_i, H/s, W/s) -> P_i (N, 256, H/s, W/s); P6 = P5 subsampled by 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .norm import ConvNorm


class FPN(nn.Module):
    def __init__(self, in_channels: list[int], channels: int = 256, norm: str = "gn") -> None:
        super().__init__()
        self.lateral_convs = nn.ModuleList(ConvNorm(c, channels, 1, norm, relu=False) for c in in_channels)
        self.fpn_convs = nn.ModuleList(ConvNorm(channels, channels, 3, norm, relu=False) for _ in in_channels)
        for conv in self.fpn_convs:
            # Their outputs are kept anyway by the RPN conv that reads them: keep only those.
            conv.norm.save_output = True

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        laterals = [conv(f) for conv, f in zip(self.lateral_convs, feats)]
        for i in range(len(laterals) - 1, 0, -1):
            # Upsample to the finer map's exact size (not x2), as the reference does.
            up = F.interpolate(laterals[i], size=laterals[i - 1].shape[-2:], mode="nearest")
            laterals[i - 1] = laterals[i - 1] + up
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return outs
