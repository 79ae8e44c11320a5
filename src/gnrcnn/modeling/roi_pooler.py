"""RoIAlign over the pyramid: each box is pooled from the one level its size maps to.

Two kernels compute it. torchvision's ``roi_align`` reads channels-first maps (the fp32 default, whose
results are exact); a sparse matrix product (``roi_align_sparse``) reads channels-last maps, as bf16
inference has them, one row of channels per sample point, with no copy of the map (CPU training uses it
too, for its multi-threaded backward).

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

SPARSE_BUDGET = 1_000_000  # sample points (RoIs x bins x padded grid) per sparse matrix: ~50 MB of entries


def map_levels(boxes: torch.Tensor, num_levels: int = 4, rule: str = "mmdet") -> torch.Tensor:
    """Level index 0..num_levels-1 (P2..) for boxes (R, 4) by their scale sqrt(w * h)."""
    scale = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    if rule == "detectron2":
        lvl = torch.floor(4 + torch.log2(scale / 224 + sys.float_info.epsilon)) - 2
    else:
        lvl = torch.floor(torch.log2(scale / 56 + 1e-6))
    return lvl.clamp(min=0, max=num_levels - 1).long()


def pooling_features(feats: list[torch.Tensor]) -> list[torch.Tensor]:
    """The maps RoIAlign reads in CPU inference: fp32 (torchvision and the sparse product have no
    reduced-precision CPU kernels; autocast would convert too, but its state does not reach the pool's
    threads), each level converted once, in its own memory format. Anything else: ``feats`` itself."""
    if feats[0].device.type != "cpu" or feats[0].dtype == torch.float32 or torch.is_grad_enabled():
        return feats
    return [f.float() for f in feats]


def channels_last_cpu(f: torch.Tensor) -> bool:
    """An fp32 CPU map in channels-last memory, outside autograd: the sparse product reads it in place."""
    return (
        f.device.type == "cpu"
        and f.dtype == torch.float32
        and not torch.is_grad_enabled()
        and f.shape[1] > 1
        and f.is_contiguous(memory_format=torch.channels_last)
        and not f.is_contiguous()
    )  # a map contiguous both ways (e.g. 1 x 1) stays on torchvision's path


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
        feats = pooling_features(feats)
        if channels_last_cpu(feats[0]):
            # Channels-last maps (bf16 inference, model.channels_last=all): one sparse product per level
            # reads each sample point's channels as one row, where torchvision would first copy the whole
            # map to channels-first, once per call (R-50 bf16 box + mask pooling 440 -> 110 ms, 2 threads).
            for i in range(n):
                for idx in self._sparse_chunks(rois, torch.nonzero(levels == i).squeeze(1), self.scales[i]):
                    out.index_copy_(0, idx, roi_align_sparse(feats[i], rois[idx], s, self.scales[i]).to(out.dtype))
            return out
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

    def _sparse_chunks(self, rois: torch.Tensor, idx: torch.Tensor, scale: float) -> list[torch.Tensor]:
        """``idx`` in chunks whose sparse matrices stay small: the matrix is built on a grid padded to
        the chunk's largest sampling grid, so RoIs go in order of grid size, at most
        ``SPARSE_BUDGET`` (RoIs x grid points per bin) per chunk; one long thin box costs no more."""
        if not idx.numel():
            return []
        wh = (rois[idx, 3:5] - rois[idx, 1:3]) * scale
        side = torch.ceil(wh.amax(dim=1) / self.output_size).clamp(min=1)
        grid = side * side * (self.output_size * self.output_size)
        order = torch.argsort(grid)
        idx, grid = idx[order], grid[order]
        chunks, start = [], 0
        while start < idx.numel():
            fits = torch.arange(1, idx.numel() - start + 1, device=idx.device) * grid[start:] <= SPARSE_BUDGET
            end = start + max(1, int(fits.sum()))  # sizes ascend: the RoIs that fit are a prefix
            chunks.append(idx[start:end])
            start = end
        return chunks

    @staticmethod
    def _split(f: torch.Tensor, idx: torch.Tensor) -> list[torch.Tensor]:
        threads = torch.get_num_threads()
        if f.device.type != "cpu" or threads < 2 or idx.numel() < 64 or torch.is_grad_enabled():
            return [idx]
        return list(idx.chunk(threads))
