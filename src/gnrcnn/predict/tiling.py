"""Large images cut into overlapping tiles at native resolution, run in batches, merged back.

A tile is a ``size`` x ``size`` crop of the original pixels (smaller only where the image is), and
then goes through the detector like any image: resized to the model's test scale
(``input.short`` / ``input.long``). With ``size`` equal to that scale (800 for the COCO models, 224
for the demo model) the model sees the image at its native resolution. All tiles of an image have
the same size, so a batch of them needs no padding and gives what one tile at a time gives.

Detections map back by their tile's offset and the duplicates across tile borders are merged by
``tile_merge.merge_tiles`` (docs/inference.md). The masks stay tile-sized RLEs until asked for:
``TiledInstances.dense`` / ``parts`` paste them into full-resolution masks, a bounded chunk at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from pycocotools import mask as mask_utils

from ..coco_results import encode_masks
from ..config.schema import PredictConfig
from ..structures import Instances
from .runner import DetectorLike, Prepared, SingleView, Views
from .tile_merge import merge_tiles

MASK_BUDGET = 1 << 28  # bytes of full-resolution masks materialised at once (256 MB)


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


@dataclass
class TiledInstances:
    """A tiled image's merged detections (boxes, scores, labels as in ``Instances``), with each
    contributing tile mask kept as RLE until full-resolution masks are asked for: n detections of a
    H x W image would take n x H x W bytes at once (6 MB each for 3000 x 2000)."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    image_shape: tuple[int, int]
    name: str
    rles: list[dict]  # the kept tile masks, at tile size
    offsets: torch.Tensor  # (k, 2) x, y of each kept tile mask's tile
    target: torch.Tensor  # (k,) the merged detection each joins
    class_names: tuple[str, ...] = ()  # as on ``Instances``: the detector's, carried to every writer
    category_ids: tuple[int, ...] = ()

    def __len__(self) -> int:
        return int(self.scores.numel())

    def dense(self, index: torch.Tensor | None = None) -> Instances:
        """``Instances`` of the detections ``index`` (all: None) with (n, H, W) bool masks."""
        index = torch.arange(len(self)) if index is None else index.cpu()
        pos = torch.full((len(self),), -1, dtype=torch.int64)
        pos[index] = torch.arange(len(index))
        src = torch.nonzero(pos[self.target] >= 0).squeeze(1)
        masks = torch.zeros((len(index), *self.image_shape), dtype=torch.bool)
        if len(src):
            tile = torch.from_numpy(mask_utils.decode([self.rles[i] for i in src.tolist()])).view(torch.bool)
            y, x, d = torch.nonzero(tile, as_tuple=True)  # (th, tw, k) as pycocotools decodes
            off = self.offsets[src][d]
            masks[pos[self.target[src]][d], y + off[:, 1], x + off[:, 0]] = True
        return Instances(self.boxes[index], self.scores[index], self.labels[index], masks, self.image_shape, self.name,
                         self.class_names, self.category_ids)  # fmt: skip

    def parts(self, budget: int = MASK_BUDGET) -> Iterator[Instances]:
        """All detections, a chunk at a time, each chunk's masks within ``budget`` bytes."""
        step = max(1, budget // max(1, self.image_shape[0] * self.image_shape[1]))
        for start in range(0, len(self), step):
            yield self.dense(torch.arange(start, min(start + step, len(self))))


class TiledRunner:
    """``prepare`` cuts and resizes the tiles (CPU, in worker threads); ``run`` runs them
    ``tile_batch`` at a time and merges the detections of each image. Each tile is seen as ``views``
    sees a piece (once, or test-time augmented: ``tta.TtaViews``). ``settings`` come checked with the
    config (``config.loader.check_predict``)."""

    batch_size = 1  # one image per run call; its tiles are the batch

    def __init__(self, detector: DetectorLike, settings: PredictConfig, border_rule: bool = True,
                 views: Views | None = None) -> None:  # fmt: skip
        self.detector = detector
        self.views = views if views is not None else SingleView(detector)
        self.size, self.overlap, self.tile_batch = settings.tile, settings.tile_overlap, settings.tile_batch
        self.margin = max(2.0, 0.01 * self.size)  # a box this close to an inner tile border is cut by it
        self.border_rule = border_rule  # False: class-wise NMS across tiles only (for comparison)

    def prepare(self, image: np.ndarray, name: str, keep_image: bool = True) -> Prepared:
        h, w = image.shape[:2]
        rects = tile_grid(h, w, self.size, self.overlap)
        tensors, metas = [], []
        for x0, y0, x1, y1 in rects.tolist():
            t, m = self.views.load(np.ascontiguousarray(image[y0:y1, x0:x1]), name)
            tensors += t
            metas += m
        return Prepared(name, (h, w), tensors, metas, image if keep_image else None, rects[:, :2].contiguous())

    def run(self, items: list[Prepared]) -> list[TiledInstances]:
        return [self._run_one(p) for p in items]

    def _run_one(self, p: Prepared) -> TiledInstances:
        boxes, scores, labels, counts, rles = [], [], [], [], []
        names: tuple[tuple[str, ...], tuple[int, ...]] = ((), ())  # the detector's, as its results carry them
        step = self.tile_batch * self.views.count  # tensors of ``tile_batch`` tiles
        for s in range(0, len(p.tensors), step):
            for t in self.views.run(p.tensors[s : s + step], p.metas[s : s + step]):
                boxes.append(t.boxes.cpu())
                scores.append(t.scores.cpu())
                labels.append(t.labels.cpu())
                counts.append(len(t))
                names = (t.class_names, t.category_ids)
                rles += encode_masks(t.masks)  # a tile mask in a few hundred bytes until pasted
        assert p.offsets is not None
        tiles = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts, dtype=torch.int64))
        th, tw = p.metas[0].ori_shape  # every tile's (the grid's tiles are all one size)
        rects = torch.cat([p.offsets, p.offsets + torch.tensor([tw, th])], 1)
        box = torch.cat(boxes) + p.offsets[tiles].repeat(1, 2).to(torch.float32)
        nms_iou = self.detector.cfg.model.roi.nms_iou
        merged = merge_tiles(box, torch.cat(scores), torch.cat(labels), tiles, rects, p.shape, nms_iou=nms_iou,
                             margin=self.margin, border_rule=self.border_rule)  # fmt: skip
        kept = torch.nonzero(merged.target >= 0).squeeze(1)
        rles = [rles[i] for i in kept.tolist()]
        return TiledInstances(merged.boxes, merged.scores, merged.labels, p.shape, p.name, rles,
                              p.offsets[tiles[kept]], merged.target[kept], *names)  # fmt: skip
