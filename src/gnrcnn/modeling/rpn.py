"""Region proposal network: a head shared over the pyramid, its proposals, and its own training
targets and losses.

Shapes: N images, A anchors per location; per level logits (N, A, H, W) and deltas (N, 4A, H, W);
flattened over all levels in (level, row, column, anchor) order: logits (N, T), deltas (N, T, 4),
anchors (T, 4). Proposals come out flat, sorted by image then score (``structures.Proposals``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config.schema import RPNConfig
from ..structures import Proposals, Targets
from . import box_coder
from .anchors import AnchorGenerator
from .assign import max_iou_assign, random_sample
from .box_ops import grouped_nms, keep_top_per_image, pairwise_iou
from .losses import l1_loss, objectness_loss


class RPNHead(nn.Module):
    """3x3 conv -> ReLU -> 1x1 convs to A objectness logits and 4A deltas, on every level."""

    def __init__(self, *, channels: int, num_anchors: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(channels, 4 * num_anchors, 1)

    def forward(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        logits, deltas = [], []
        for f in feats:
            t = F.relu(self.conv(f))
            logits.append(self.cls_logits(t))
            deltas.append(self.bbox_pred(t))
        return logits, deltas


def flatten_level(logits: torch.Tensor, deltas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, A, H, W), (N, 4A, H, W) -> (N, H*W*A), (N, H*W*A, 4) in (row, column, anchor) order."""
    n = logits.shape[0]
    return logits.permute(0, 2, 3, 1).reshape(n, -1), deltas.permute(0, 2, 3, 1).reshape(n, -1, 4)


def generate_proposals(
    logits: list[torch.Tensor],
    deltas: list[torch.Tensor],
    anchors: list[torch.Tensor],
    image_sizes: torch.Tensor,
    *,
    pre_nms: int,
    post_nms: int,
    nms_iou: float,
    min_size: float = 0.0,
    box_arithmetic: str = "mmdet",
) -> Proposals:
    """Top ``pre_nms`` per level -> decode + clip -> drop empty boxes -> NMS per (image, level) -> top ``post_nms``.

    MMDetection ranks by sigmoid score, detectron2 by logit; they differ only where the sigmoid
    saturates to equal float32 values. Boxes or scores that are not finite are dropped.
    """
    n = image_sizes.shape[0]
    scores, picked_deltas, picked_anchors, levels = [], [], [], []
    for lvl, (lg, dl, an) in enumerate(zip(logits, deltas, anchors)):
        s, d = flatten_level(lg.detach(), dl.detach())
        s = s.float() if box_arithmetic == "detectron2" else s.float().sigmoid()
        k = min(pre_nms, s.shape[1])
        s, idx = s.topk(k, dim=1)
        scores.append(s)
        picked_deltas.append(torch.gather(d.float(), 1, idx[..., None].expand(-1, -1, 4)))
        picked_anchors.append(an[idx])
        levels.append(torch.full((k,), lvl, dtype=torch.int64, device=s.device))
    decode = box_coder.decoder(box_arithmetic)
    boxes = decode(torch.cat(picked_anchors, 1), torch.cat(picked_deltas, 1), (1.0, 1.0, 1.0, 1.0),
                   image_sizes[:, None, :])  # fmt: skip
    per_image = boxes.shape[1]
    boxes, scores = boxes.reshape(-1, 4), torch.cat(scores, 1).reshape(-1)
    image_ids = torch.arange(n, device=boxes.device).repeat_interleave(per_image)
    groups = image_ids * len(logits) + torch.cat(levels).repeat(n)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    finite = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores)
    valid = torch.nonzero((w > min_size) & (h > min_size) & finite).squeeze(1)
    keep = valid[grouped_nms(boxes[valid], scores[valid], groups[valid], nms_iou)]
    keep = keep_top_per_image(keep, image_ids, post_nms)
    return Proposals(boxes[keep], scores[keep], image_ids[keep])


@dataclass
class AnchorSamples:
    pos: torch.Tensor  # (N, T) bool
    neg: torch.Tensor  # (N, T) bool
    deltas: torch.Tensor  # (num_pos, 4) regression targets of the positives, in pos order
    avg_factor: float


def label_and_sample_anchors(
    anchors: torch.Tensor, valid: torch.Tensor, targets: Targets, cfg: RPNConfig
) -> AnchorSamples:
    """Assign the valid anchors (N, T) at IoU 0.7 / 0.3 with low-quality matches; sample 256 per image."""
    gt_boxes, _, gt_valid = targets.padded()
    iou = pairwise_iou(gt_boxes, anchors[None])
    codes = max_iou_assign(iou, gt_valid, valid, cfg.pos_iou, cfg.neg_iou, cfg.min_pos_iou, cfg.low_quality_matches)
    del iou
    pos, neg = random_sample(codes, cfg.batch_per_image, cfg.pos_fraction)
    n_idx, a_idx = torch.nonzero(pos, as_tuple=True)
    matched = gt_boxes[n_idx, codes[n_idx, a_idx] - 1]
    deltas = box_coder.encode(anchors[a_idx], matched, (1.0, 1.0, 1.0, 1.0))
    if cfg.loss_norm == "batch":
        avg = float(cfg.batch_per_image * len(gt_boxes))
    else:
        avg = max(float((pos | neg).sum()), 1.0)
    return AnchorSamples(pos, neg, deltas, avg)


class RPN(nn.Module):
    """Proposals from ``in_features``; with targets, also the objectness and box losses."""

    def __init__(
        self, *, in_features: list[str], head: RPNHead, anchor_generator: AnchorGenerator, cfg: RPNConfig,
        box_arithmetic: str = "mmdet",
    ) -> None:  # fmt: skip
        super().__init__()
        self.in_features = list(in_features)
        self.head = head
        self.anchor_generator = anchor_generator
        self.cfg = cfg
        self.box_arithmetic = box_arithmetic

    def forward(
        self, features: dict[str, torch.Tensor], image_sizes: torch.Tensor, targets: Targets | None = None
    ) -> tuple[Proposals, dict[str, torch.Tensor]]:
        """Proposals (training's top-k when ``targets`` are given, else the test-time ones) and losses."""
        feats = [features[k] for k in self.in_features]
        logits, deltas = self.head(feats)
        sizes = [tuple(f.shape[-2:]) for f in feats]
        anchors = self.anchor_generator(sizes, feats[0].device)
        c = self.cfg
        training = targets is not None
        pre = c.pre_nms_topk_train if training else c.pre_nms_topk_test
        post = c.post_nms_topk_train if training else c.post_nms_topk_test
        proposals = generate_proposals(logits, deltas, anchors, image_sizes, pre_nms=pre, post_nms=post,
                                       nms_iou=c.nms_iou, min_size=c.min_box_size,
                                       box_arithmetic=self.box_arithmetic)  # fmt: skip
        losses = self.losses(logits, deltas, anchors, sizes, targets) if training else {}
        return proposals, losses

    def losses(
        self, logits: list[torch.Tensor], deltas: list[torch.Tensor], anchors: list[torch.Tensor],
        sizes: list[tuple[int, int]], targets: Targets,
    ) -> dict[str, torch.Tensor]:  # fmt: skip
        """Binary cross-entropy of the sampled anchors and L1 of the positives' deltas (docs/spec/SEMANTICS.md,
        section 6)."""
        valid = torch.cat(self.anchor_generator.valid_mask(sizes, targets.pad_shapes), dim=1)
        s = label_and_sample_anchors(torch.cat(anchors), valid, targets, self.cfg)
        flat = [flatten_level(lg, dl) for lg, dl in zip(logits, deltas)]
        flat_logits, flat_deltas = torch.cat([f[0] for f in flat], 1), torch.cat([f[1] for f in flat], 1)
        sampled = s.pos | s.neg
        return {
            "loss_rpn_cls": objectness_loss(flat_logits[sampled], s.pos[sampled], s.avg_factor),
            "loss_rpn_bbox": l1_loss(flat_deltas[s.pos], s.deltas, s.avg_factor),
        }
