"""Box maths on xyxy tensors: IoU, grouped and multi-class NMS, rescaling. Pure functions.

Shapes: boxes (M, 4) xyxy; scores (M,); groups (M,) int64.
"""

from __future__ import annotations

import torch
from torchvision.ops import nms

from ..structures import Detections


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU matrix (..., M, N) of boxes a (..., M, 4) and b (..., N, 4); union floored at 1e-6 like MMDetection.

    Written with x and y separately and in place: for all anchors of a large image (~270k) against
    many ground truths, the (..., M, N) intermediates dominate training memory.
    """
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    iw = torch.minimum(a[..., :, None, 2], b[..., None, :, 2]) - torch.maximum(a[..., :, None, 0], b[..., None, :, 0])
    ih = torch.minimum(a[..., :, None, 3], b[..., None, :, 3]) - torch.maximum(a[..., :, None, 1], b[..., None, :, 1])
    inter = iw.clamp_(min=0).mul_(ih.clamp_(min=0))
    del ih
    union = (area_a[..., :, None] + area_b[..., None, :]).sub_(inter).clamp_(min=1e-6)
    return inter.div_(union)


CPU_SINGLE_CALL_MAX = 1000  # above this many boxes, per-group calls are faster on the CPU


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of each box of a (k, 4) with the box of b (k, 4) at the same row; an empty box (x2 < x1 after
    clipping, say) has area 0. The one elementwise IoU (tile merging); ``pairwise_iou`` gives every pair."""
    lt, rb = torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (box_area(a) + box_area(b) - inter).clamp(min=1e-6)


def box_area(b: torch.Tensor) -> torch.Tensor:
    """(..., 4) xyxy -> (...) areas, 0 for an empty box."""
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def grouped_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou: float) -> torch.Tensor:
    """NMS where boxes of different groups never suppress each other; indices kept, by decreasing score.

    On a GPU all groups go through one NMS call, each group shifted to its own region of the plane.
    The shift is done in float64, where it is exact for float32 coordinates, so every IoU equals the
    one computed within the group alone (float32 coordinate tricks round the coordinates instead).
    The CPU kernel compares every kept box with every later box, groups or not, so there each group
    gets its own call once the boxes are many (one call per image and level or class, not per box).
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    if boxes.device.type == "cpu" and boxes.shape[0] > CPU_SINGLE_CALL_MAX:
        keep = [idx[nms(boxes[idx], scores[idx], iou)] for idx in _group_indices(groups)]
        keep_all = torch.cat(keep)
        return keep_all[torch.sort(scores[keep_all], descending=True, stable=True).indices]
    b = boxes.double()
    span = b.max() - torch.clamp(b.min(), max=0) + 1
    shifted = b + (groups.double() * span)[:, None]
    return nms(shifted, scores.double(), iou)


def _group_indices(groups: torch.Tensor) -> list[torch.Tensor]:
    order = torch.argsort(groups, stable=True)
    counts = torch.unique_consecutive(groups[order], return_counts=True)[1]
    return list(order.split(counts.tolist()))


def rank_within(groups: torch.Tensor) -> torch.Tensor:
    """For a sequence of group ids, each element's rank among the earlier elements of its group."""
    if groups.numel() == 0:
        return groups.clone()
    order = torch.sort(groups, stable=True).indices
    sorted_groups = groups[order]
    pos = torch.arange(groups.numel(), device=groups.device)
    starts = torch.ones_like(sorted_groups, dtype=torch.bool)
    starts[1:] = sorted_groups[1:] != sorted_groups[:-1]
    first = torch.cummax(torch.where(starts, pos, torch.zeros_like(pos)), 0).values
    rank = torch.empty_like(pos)
    rank[order] = pos - first
    return rank


def keep_top_per_image(keep: torch.Tensor, image_ids: torch.Tensor, k: int) -> torch.Tensor:
    """From ``keep`` (indices in decreasing score), the first ``k`` of each image, sorted by image then score."""
    img = image_ids[keep]
    keep = keep[rank_within(img) < k]
    return keep[torch.sort(image_ids[keep], stable=True).indices]


def scale_boxes(boxes: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Divide xyxy boxes (M, 4) by per-box (M, 2) factors (sx, sy): resized -> original pixels."""
    return boxes / factors.repeat(1, 2)


def multiclass_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    image_ids: torch.Tensor,
    *,
    score_thr: float,
    nms_iou: float,
    max_per_image: int,
    class_agnostic: bool = False,
) -> Detections:
    """Candidates are (RoI, class) pairs scoring strictly above ``score_thr``; NMS per image and class
    (classes never suppress each other), or per image over all classes with ``class_agnostic`` (a box
    then suppresses overlapping boxes of every class, so one object is not reported as two classes);
    the ``max_per_image`` best of each image, by decreasing score.

    boxes (R, K, 4), scores (R, K), image_ids (R,).
    """
    num_classes = scores.shape[1]
    r, k = torch.nonzero(scores > score_thr, as_tuple=True)
    boxes, scores, img = boxes[r, k], scores[r, k], image_ids[r]
    keep = grouped_nms(boxes, scores, img if class_agnostic else img * num_classes + k, nms_iou)
    keep = keep_top_per_image(keep, img, max_per_image)
    return Detections(boxes[keep], scores[keep], k[keep], img[keep])
