"""RoIAlign over the pyramid: each box is pooled from the one level its size maps to.

Shapes: feats P2..P5 each (N, C, H/s, W/s); rois (R, 5) as (image index, x1, y1, x2, y2) in
resized-image pixels; out (R, C, S, S).
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from torchvision.ops import roi_align

from .roi_align_sparse import roi_align_sparse


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

    def __init__(
        self, output_size: int, strides: list[int], style: str = "mmdet",
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> None:  # fmt: skip
        super().__init__()
        self.output_size = output_size
        self.scales = [1.0 / s for s in strides]
        self.style = style
        self.memory_format = memory_format

    def forward(self, feats: list[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        n = len(self.scales)
        c, s = feats[0].shape[1], self.output_size
        out = feats[0].new_zeros((rois.shape[0], c, s, s)).contiguous(memory_format=self.memory_format)
        if rois.shape[0] == 0:
            return out
        levels = map_levels(rois[:, 1:], n, self.style)
        for i in range(n):
            idx = torch.nonzero(levels == i).squeeze(1)
            if idx.numel():
                f = feats[i]
                if f.device.type == "cpu" and f.requires_grad and torch.is_grad_enabled():
                    # Training on the CPU: torchvision's backward is single-threaded (see roi_align_sparse).
                    pooled = roi_align_sparse(f, rois[idx], s, self.scales[i])
                else:
                    pooled = roi_align(f, rois[idx].to(f.dtype), s, self.scales[i], 0, True)
                out.index_copy_(0, idx, pooled.to(out.dtype))
        return out
