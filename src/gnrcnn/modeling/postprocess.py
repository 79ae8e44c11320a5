"""Detections in resized-image pixels -> per-image ``Instances`` in original pixels with full-size masks.

Shapes: detections flat (D,) (``structures.Detections``), mask probabilities (D, M, M); out: per
image boxes (n_i, 4), scores, labels, masks (n_i, H_i, W_i) bool.
"""

from __future__ import annotations

import torch

from ..structures import Detections, ImageMeta, Instances
from . import box_coder
from .box_ops import scale_boxes
from .mask_paste import paste_masks


def _detectron2_rescale(dets: Detections, probs: torch.Tensor, metas: list[ImageMeta]
                        ) -> tuple[Detections, torch.Tensor, torch.Tensor]:  # fmt: skip
    """detectron2 multiplies by original/resized, clips to the original image and drops boxes that
    became empty."""
    device = dets.boxes.device
    ori = torch.tensor([m.ori_shape for m in metas], dtype=torch.float32, device=device)
    res = torch.tensor([m.img_shape for m in metas], dtype=torch.float32, device=device)
    ratio = (ori / res).flip(-1)[dets.image_ids]
    boxes = box_coder.clip(dets.boxes * ratio.repeat(1, 2), ori[dets.image_ids])
    keep = torch.nonzero((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).squeeze(1)
    return Detections(*(t[keep] for t in dets)), probs[keep], boxes[keep]


def to_instances(
    dets: Detections, probs: torch.Tensor, metas: list[ImageMeta], *, mask_thr: float = 0.5,
    box_arithmetic: str = "mmdet",
) -> list[Instances]:  # fmt: skip
    """Rescale boxes to each original image, paste masks at full size, split per image."""
    if box_arithmetic == "detectron2":
        dets, probs, boxes = _detectron2_rescale(dets, probs, metas)
    else:
        factors = torch.tensor([m.scale_factor for m in metas], dtype=torch.float32, device=dets.boxes.device)
        boxes = scale_boxes(dets.boxes, factors[dets.image_ids])
    masks = paste_masks(probs, boxes, dets.image_ids, [m.ori_shape for m in metas], mask_thr)
    counts = [len(m) for m in masks]
    parts = zip(metas, boxes.split(counts), dets.scores.split(counts), dets.labels.split(counts), masks)
    return [Instances(b, s, lab, mk, meta.ori_shape, meta.name) for meta, b, s, lab, mk in parts]
