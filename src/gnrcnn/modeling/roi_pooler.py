"""RoIAlign over the pyramid: each box is pooled from the one level its size maps to.

Shapes: feats P2..P5 each (N, C, H/s, W/s); rois (R, 5) as (image index, x1, y1, x2, y2) in
resized-image pixels; out (R, C, S, S).
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from torchvision.ops import roi_align


def map_levels(boxes: torch.Tensor, num_levels: int = 4, style: str = "mmdet") -> torch.Tensor:
    """Level index 0..num_levels-1 (P2..) for boxes (R, 4) by their scale sqrt(w * h)."""
    scale = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    if style == "detectron2":
        lvl = torch.floor(4 + torch.log2(scale / 224 + sys.float_info.epsilon)) - 2
    else:
        lvl = torch.floor(torch.log2(scale / 56 + 1e-6))
    return lvl.clamp(min=0, max=num_levels - 1).long()


class MultiScaleRoIAlign(nn.Module):
    """``aligned=True``, adaptive sampling (``sampling_ratio=0``), average pooling."""

    def __init__(self, output_size: int, strides: list[int], style: str = "mmdet") -> None:
        super().__init__()
        self.output_size = output_size
        self.scales = [1.0 / s for s in strides]
        self.style = style

    def forward(self, feats: list[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        n = len(self.scales)
        c, s = feats[0].shape[1], self.output_size
        out = feats[0].new_zeros((rois.shape[0], c, s, s))
        if rois.shape[0] == 0:
            return out
        levels = map_levels(rois[:, 1:], n, self.style)
        for i in range(n):
            idx = torch.nonzero(levels == i).squeeze(1)
            if idx.numel():
                pooled = roi_align(feats[i], rois[idx].to(feats[i].dtype), s, self.scales[i], 0, True)
                out.index_copy_(0, idx, pooled.to(out.dtype))
        return out
