"""Region proposal network: a shared head over P2..P6 and the proposals it yields.

Shapes: A anchors per location; logits (N, A, H, W), deltas (N, 4A, H, W) per level;
proposals as flat tensors boxes (R, 4), scores (R,), image_ids (R,), sorted by image then score.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import box_coder
from .anchors import AnchorGenerator
from .box_ops import grouped_nms, keep_top_per_image

DecodeFn = Callable[..., torch.Tensor]


class Proposals(NamedTuple):
    boxes: torch.Tensor
    scores: torch.Tensor
    image_ids: torch.Tensor


class RPNHead(nn.Module):
    def __init__(self, channels: int, num_anchors: int) -> None:
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
    pre_nms: int,
    post_nms: int,
    nms_iou: float,
    min_size: float = 0.0,
    decode: DecodeFn = box_coder.decode,
    rank_logits: bool = False,
) -> Proposals:
    """Top ``pre_nms`` per level -> decode + clip -> drop empty boxes -> NMS per (image, level) -> top ``post_nms``.

    MMDetection ranks by sigmoid score, detectron2 (``rank_logits``) by logit; they differ only where
    the sigmoid saturates to equal float32 values. Boxes or scores that are not finite are dropped.
    """
    n = image_sizes.shape[0]
    scores, picked_deltas, picked_anchors, levels = [], [], [], []
    for lvl, (lg, dl, an) in enumerate(zip(logits, deltas, anchors)):
        s, d = flatten_level(lg.detach(), dl.detach())
        s = s.float() if rank_logits else s.float().sigmoid()
        k = min(pre_nms, s.shape[1])
        s, idx = s.topk(k, dim=1)
        scores.append(s)
        picked_deltas.append(torch.gather(d.float(), 1, idx[..., None].expand(-1, -1, 4)))
        picked_anchors.append(an[idx])
        levels.append(torch.full((k,), lvl, dtype=torch.int64, device=s.device))
    sizes = image_sizes[:, None, :]
    boxes = decode(torch.cat(picked_anchors, 1), torch.cat(picked_deltas, 1), (1.0, 1.0, 1.0, 1.0), sizes)
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


class RPN(nn.Module):
    """Head + anchors + proposal generation. Training targets and losses live in ``rpn_loss``."""

    def __init__(
        self,
        channels: int,
        strides: list[int],
        anchor_scale: float,
        anchor_ratios: list[float],
        style: str = "mmdet",
    ) -> None:
        super().__init__()
        self.anchor_generator = AnchorGenerator(strides, anchor_scale, anchor_ratios, style)
        self.head = RPNHead(channels, self.anchor_generator.num_anchors)
        self.decode: DecodeFn = box_coder.decode_detectron2 if style == "detectron2" else box_coder.decode

    def forward(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        logits, deltas = self.head(feats)
        anchors = self.anchor_generator([tuple(f.shape[-2:]) for f in feats], feats[0].device)
        return logits, deltas, anchors
