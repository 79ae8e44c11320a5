"""RoIAlign over the pyramid: each box is pooled from the one level its size maps to.

Shapes: feats, finest first (p2..p5), each (N, C, H/s, W/s); rois (R, 5) as (image index, x1, y1, x2, y2) in
resized-image pixels; out (R, C, S, S).
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from torchvision.ops import roi_align

from ..runtime import thread_pool
from .roi_align_sparse import roi_align_sparse


def map_levels(boxes: torch.Tensor, num_levels: int = 4, rule: str = "mmdet") -> torch.Tensor:
    """Level index 0..num_levels-1 (P2..) for boxes (R, 4) by their scale sqrt(w * h)."""
    scale = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    if rule == "detectron2":
        lvl = torch.floor(4 + torch.log2(scale / 224 + sys.float_info.epsilon)) - 2
    else:
        lvl = torch.floor(torch.log2(scale / 56 + 1e-6))
    return lvl.clamp(min=0, max=num_levels - 1).long()


class MultiScaleRoIAlign(nn.Module):
    """``aligned=True``, adaptive sampling (``sampling_ratio=0``), average pooling."""

    def __init__(
        self, *, output_size: int, strides: list[int], level_mapping: str = "mmdet",
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> None:  # fmt: skip
        super().__init__()
        self.output_size = output_size
        self.scales = [1.0 / s for s in strides]
        self.level_mapping = level_mapping
        self.memory_format = memory_format

    def forward(self, feats: list[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        n = len(self.scales)
        c, s = feats[0].shape[1], self.output_size
        out = feats[0].new_zeros((rois.shape[0], c, s, s)).contiguous(memory_format=self.memory_format)
        if rois.shape[0] == 0:
            return out
        levels = map_levels(rois[:, 1:], n, self.level_mapping)
        if feats[0].device.type == "cpu" and feats[0].dtype != torch.float32 and not torch.is_grad_enabled():
            # torchvision has no reduced-precision CPU RoIAlign (autocast would convert too, but its
            # state does not reach the pool's threads): convert each level once, not per chunk.
            feats = [f.float() for f in feats]
        jobs = []
        for i in range(n):
            idx = torch.nonzero(levels == i).squeeze(1)
            if idx.numel():
                jobs += [(i, part) for part in self._split(feats[i], idx)]
        if len(jobs) > 1 and feats[0].device.type == "cpu" and not torch.is_grad_enabled():
            # torchvision's CPU RoIAlign runs on one thread: pool chunks of RoIs concurrently (the op
            # releases the GIL; each RoI's arithmetic is unchanged, so the result is bit-identical).
            pooled = list(thread_pool().map(lambda job: self._pool_level(feats[job[0]], rois[job[1]], job[0]), jobs))
        else:
            pooled = [self._pool_level(feats[i], rois[idx], i) for i, idx in jobs]
        for (_, idx), p in zip(jobs, pooled):
            out.index_copy_(0, idx, p.to(out.dtype))
        return out

    def _pool_level(self, f: torch.Tensor, rois: torch.Tensor, level: int) -> torch.Tensor:
        if f.device.type == "cpu" and f.requires_grad and torch.is_grad_enabled():
            # Training on the CPU: torchvision's backward is single-threaded (see roi_align_sparse).
            return roi_align_sparse(f, rois, self.output_size, self.scales[level])
        return roi_align(f, rois.to(f.dtype), self.output_size, self.scales[level], 0, True)

    @staticmethod
    def _split(f: torch.Tensor, idx: torch.Tensor) -> list[torch.Tensor]:
        threads = torch.get_num_threads()
        if f.device.type != "cpu" or threads < 2 or idx.numel() < 64 or torch.is_grad_enabled():
            return [idx]
        return list(idx.chunk(threads))
