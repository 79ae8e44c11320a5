"""Large images cut into overlapping tiles at native resolution, run in batches, merged back.

A tile is a ``size`` x ``size`` crop of the original pixels (smaller only where the image is), and
then goes through the detector like any image: resized to the model's test scale
(``input.short`` / ``input.long``). With ``size`` equal to that scale (800 for the COCO models, 224
for the demo model) the model sees the image at its native resolution. All tiles of an image have
the same size, so a batch of them needs no padding and gives what one tile at a time gives.

Detections map back by their tile's offset; masks are pasted into full-resolution image masks; the
duplicates across tile borders are merged by ``tile_merge.merge_tiles`` (docs/inference.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config.loader import check_predict
from ..config.schema import PredictConfig
from ..structures import Instances
from .runners import Prepared
from .tile_merge import merge_tiles

if TYPE_CHECKING:
    from .predictor import Detector


def tile_starts(length: int, size: int, overlap: float) -> list[int]:
    """Start of each tile along one side: the fewest tiles of ``size`` overlapping by at least
    ``overlap`` x ``size``, spread evenly from one end to the other (none sticks out)."""
    if length <= size:
        return [0]
    stride = max(1, size - round(overlap * size))
    n = math.ceil((length - size) / stride) + 1
    return [round(i * (length - size) / (n - 1)) for i in range(n)]


def tile_grid(height: int, width: int, size: int, overlap: float) -> torch.Tensor:
    """(T, 4) int64 xyxy tile rectangles covering the image, row by row."""
    ys, xs = tile_starts(height, size, overlap), tile_starts(width, size, overlap)
    th, tw = min(size, height), min(size, width)
    y0, x0 = torch.meshgrid(torch.tensor(ys), torch.tensor(xs), indexing="ij")
    x0, y0 = x0.reshape(-1), y0.reshape(-1)
    return torch.stack([x0, y0, x0 + tw, y0 + th], 1)


def paste_tile_masks(masks: torch.Tensor, offsets: torch.Tensor, target: torch.Tensor, count: int,
                     image_shape: tuple[int, int]) -> torch.Tensor:  # fmt: skip
    """(count, H, W) bool: each tile mask (n, th, tw) at its (n, 2) x, y offset, or-ed into the merged
    detection ``target`` names (-1: none)."""
    out = torch.zeros((count, *image_shape), dtype=torch.bool, device=masks.device)
    src = torch.nonzero(target >= 0).squeeze(1)
    d, y, x = torch.nonzero(masks[src], as_tuple=True)
    off = offsets[src][d]
    out[target[src][d], y + off[:, 1], x + off[:, 0]] = True
    return out


class TiledRunner:
    """``prepare`` cuts and resizes the tiles (CPU, in worker threads); ``run`` runs them
    ``tile_batch`` at a time and merges the detections of each image."""

    batch_size = 1  # one image per run call; its tiles are the batch

    def __init__(self, detector: Detector, settings: PredictConfig) -> None:
        check_predict(settings)
        self.detector = detector
        self.size, self.overlap, self.tile_batch = settings.tile, settings.tile_overlap, settings.tile_batch
        self.margin = max(2.0, 0.01 * self.size)  # a box this close to an inner tile border is cut by it

    def prepare(self, image: np.ndarray, name: str, keep_image: bool = True) -> Prepared:
        h, w = image.shape[:2]
        rects = tile_grid(h, w, self.size, self.overlap)
        tensors, metas = [], []
        for x0, y0, x1, y1 in rects.tolist():
            tensor, meta = self.detector.preprocessor.load(np.ascontiguousarray(image[y0:y1, x0:x1]))
            meta.name = name
            tensors.append(tensor)
            metas.append(meta)
        return Prepared(name, (h, w), tensors, metas, image if keep_image else None, rects[:, :2].contiguous())

    def run(self, items: list[Prepared]) -> list[Instances]:
        return [self._run_one(p) for p in items]

    def _run_one(self, p: Prepared) -> Instances:
        parts: list[Instances] = []
        norm = self.detector.preprocessor.normalizer
        for s in range(0, len(p.tensors), self.tile_batch):
            batch, sizes = norm(p.tensors[s : s + self.tile_batch])
            parts += self.detector.run_batch(batch, sizes, p.metas[s : s + self.tile_batch])
        assert p.offsets is not None
        device = parts[0].boxes.device
        offsets = p.offsets.to(device)
        tiles = torch.repeat_interleave(torch.arange(len(parts), device=device),
                                        torch.tensor([len(t) for t in parts], device=device))  # fmt: skip
        th, tw = parts[0].image_shape
        rects = torch.cat([offsets, offsets + torch.tensor([tw, th], device=device)], 1)
        boxes = torch.cat([t.boxes for t in parts]) + offsets[tiles].repeat(1, 2).to(parts[0].boxes.dtype)
        scores, labels = torch.cat([t.scores for t in parts]), torch.cat([t.labels for t in parts])
        nms_iou = self.detector.cfg.model.roi.nms_iou
        merged = merge_tiles(boxes, scores, labels, tiles, rects, p.shape, nms_iou=nms_iou, margin=self.margin)
        masks = torch.cat([t.masks for t in parts])
        full = paste_tile_masks(masks, offsets[tiles], merged.target, len(merged.scores), p.shape)
        return Instances(merged.boxes, merged.scores, merged.labels, full, p.shape, p.name)
