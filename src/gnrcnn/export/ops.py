"""Building blocks of the exportable inference path: each maps onto standard ONNX operators and has
no Python branch or loop whose count depends on the data.

Shapes: B NMS batches, C score maps per batch, S boxes; boxes (B, S, 4) xyxy, scores (B, C, S);
selected (M, 3) int64 rows (batch, map, box). Feature maps finest first (N, Ch, H/s, W/s); RoIs
(R, 5) as (image index, x1, y1, x2, y2).

``batched_nms`` is a custom op whose export is ONNX ``NonMaxSuppression`` (``export/onnx.py``
supplies the translation); its eager body computes the same with torchvision's NMS, one call per
(batch, map). Both keep a box only when its score is strictly above ``score_threshold`` and
suppress at IoU strictly above ``iou_threshold``, as torchvision and ``box_ops.multiclass_nms`` do.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import nms, roi_align

from ..modeling.roi_pooler import map_levels

NO_SCORE = float("-inf")  # the score of a masked-out entry: below every threshold, never selected
LOWEST = float(torch.finfo(torch.float32).min)  # a score threshold that keeps every finite score


@torch.library.custom_op("gnrcnn::batched_nms", mutates_args=())
def batched_nms(boxes: Tensor, scores: Tensor, iou_threshold: float, score_threshold: float) -> Tensor:
    """ONNX NonMaxSuppression (corner boxes, no output cap): for every batch b and map c, the boxes of
    b scoring above ``score_threshold`` in c, suppressed within (b, c); rows ordered by b, c, then
    decreasing score."""
    out = [boxes.new_zeros((0, 3), dtype=torch.int64)]
    for b in range(scores.shape[0]):
        for c in range(scores.shape[1]):  # one call per (image, level) or (image, class), never per box
            idx = torch.nonzero(scores[b, c] > score_threshold).squeeze(1)
            keep = idx[nms(boxes[b, idx], scores[b, c, idx], iou_threshold)]
            out.append(torch.stack([torch.full_like(keep, b), torch.full_like(keep, c), keep], dim=1))
    return torch.cat(out)


@batched_nms.register_fake
def _batched_nms_shape(boxes: Tensor, scores: Tensor, iou_threshold: float, score_threshold: float) -> Tensor:
    return boxes.new_empty((torch.library.get_ctx().new_dynamic_size(), 3), dtype=torch.int64)


def topk_padded(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Top ``k`` of each row of (N, T) ``scores`` even where T < k: the missing entries come back as
    ``NO_SCORE`` with an index clamped to T - 1 (so a gather with it stays in range)."""
    pad = scores.new_full((scores.shape[0], k), NO_SCORE)
    values, idx = torch.cat([scores, pad], dim=1).topk(k, dim=1)
    return values, idx.clamp(max=scores.shape[1] - 1)


def top_per_image(scores: Tensor, image_ids: Tensor, num_images: int, k: int) -> Tensor:
    """Indices into (M,) ``scores`` of each image's ``k`` best, ordered by image, then decreasing score
    (ties: the earlier entry first, as a stable sort)."""
    images = torch.arange(num_images, device=scores.device)
    per_image = torch.where(image_ids[None, :] == images[:, None], scores[None, :], NO_SCORE)
    values, idx = topk_padded(per_image, k)
    return idx.reshape(-1)[torch.nonzero(values.reshape(-1) > NO_SCORE).squeeze(1)]


def pyramid_roi_align(
    feats: list[Tensor], rois: Tensor, *, output_size: int, scales: list[float], level_mapping: str
) -> Tensor:
    """``MultiScaleRoIAlign`` as one RoiAlign per level on the RoIs that map to it, scattered back in
    RoI order (aligned=True is ONNX's half_pixel mode; sampling ratio 0 is adaptive in both)."""
    levels = map_levels(rois[:, 1:], len(feats), level_mapping)
    out = feats[0].new_zeros((rois.shape[0], feats[0].shape[1], output_size, output_size))
    for i, (f, scale) in enumerate(zip(feats, scales)):
        idx = torch.nonzero(levels == i).squeeze(1)
        out = out.index_put((idx,), roi_align(f, rois[idx], output_size, scale, 0, True))
    return out
