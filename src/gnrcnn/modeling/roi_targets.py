"""Training targets of the RoI heads (used by ``roi_heads.RoIHeads`` only): which proposals are
sampled, their classes and box deltas, and the mask each positive should predict.

Shapes: N images; ground truth padded to G per image: gt_boxes (N, G, 4), gt_labels (N, G),
gt_valid (N, G); proposals flat: boxes (P, 4), image_ids (P,); gt_masks (sum of real G_i, Hp, Wp).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import roi_align

from ..config.schema import RoIConfig
from . import box_coder
from .assign import max_iou_assign, random_sample
from .box_ops import pairwise_iou, rank_within


@dataclass
class RoISamples:
    rois: torch.Tensor  # (R, 5) sampled RoIs (image index, box), positives first
    labels: torch.Tensor  # (R,) class 0..K-1 for positives, K (background) for negatives
    num_pos: int
    deltas: torch.Tensor  # (num_pos, 4) regression targets
    gt_index: torch.Tensor  # (num_pos,) index of the matched ground truth in the batch's gt_masks


def label_and_sample_proposals(
    boxes: torch.Tensor,
    image_ids: torch.Tensor,
    gt: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    num_classes: int,
    cfg: RoIConfig,
) -> RoISamples:
    """Proposals plus the ground-truth boxes as candidates; assign at IoU 0.5; sample 512 (25% positive)."""
    gt_boxes, gt_labels, gt_valid = gt
    n, g = gt_valid.shape
    counts = torch.bincount(image_ids, minlength=n)
    p = int(counts.max()) if len(image_ids) else 0
    cand = torch.zeros((n, g + p, 4), device=boxes.device)
    cand_valid = torch.zeros((n, g + p), dtype=torch.bool, device=boxes.device)
    cand[:, :g], cand_valid[:, :g] = gt_boxes, gt_valid  # ground truth first, as the reference
    slot = g + rank_within(image_ids)
    cand[image_ids, slot], cand_valid[image_ids, slot] = boxes, True
    codes = max_iou_assign(
        pairwise_iou(gt_boxes, cand), gt_valid, cand_valid, cfg.pos_iou, cfg.neg_iou, cfg.min_pos_iou,
        cfg.low_quality_matches,
    )  # fmt: skip
    pos, neg = random_sample(codes, cfg.batch_per_image, cfg.pos_fraction)
    pn, pc = torch.nonzero(pos, as_tuple=True)
    nn_, nc = torch.nonzero(neg, as_tuple=True)
    gt_of_pos = codes[pn, pc] - 1
    img = torch.cat([pn, nn_])
    cand_boxes = torch.cat([cand[pn, pc], cand[nn_, nc]])
    labels = torch.cat([gt_labels[pn, gt_of_pos], torch.full_like(nn_, num_classes)])
    deltas = box_coder.encode(cand[pn, pc], gt_boxes[pn, gt_of_pos], cfg.box_stds)
    offsets = torch.cumsum(gt_valid.sum(dim=1), 0) - gt_valid.sum(dim=1)
    return RoISamples(
        torch.cat([img[:, None].to(cand_boxes.dtype), cand_boxes], dim=1), labels, len(pn), deltas,
        offsets[pn] + gt_of_pos,
    )  # fmt: skip


def mask_targets(gt_masks: torch.Tensor, rois: torch.Tensor, gt_index: torch.Tensor, size: int) -> torch.Tensor:
    """Each positive RoI's matched ground-truth bitmap RoIAligned to size x size and binarised at 0.5."""
    if rois.shape[0] == 0:
        return gt_masks.new_zeros((0, size, size), dtype=torch.float32)
    hp, wp = gt_masks.shape[-2:]
    boxes = rois[:, 1:].clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, wp)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, hp)
    used, inverse = torch.unique(gt_index, return_inverse=True)  # convert only the masks that are needed
    src = gt_masks[used, None].float()
    pooled = roi_align(src, torch.cat([inverse[:, None].to(boxes.dtype), boxes], 1), size, 1.0, 0, True)
    return (pooled[:, 0] >= 0.5).float()
