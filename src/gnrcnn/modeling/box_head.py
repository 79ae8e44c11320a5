"""Box head ("Shared4Conv1FC") and its post-processing into detections.

Shapes: K classes; pooled RoIs (R, 256, 7, 7) -> class logits (R, K + 1) with background LAST,
class-specific deltas (R, 4K); detections as flat boxes (D, 4), scores (D,), labels (D,), image_ids (D,).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .box_ops import grouped_nms, keep_top_per_image
from .norm import ConvNorm


class Detections(NamedTuple):
    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    image_ids: torch.Tensor


class BoxHead(nn.Module):
    def __init__(
        self,
        num_classes: int,
        in_channels: int = 256,
        pool: int = 7,
        num_convs: int = 4,
        conv_channels: int = 256,
        fc_dim: int = 1024,
        norm: str = "gn",
    ) -> None:
        super().__init__()
        chans = [in_channels] + [conv_channels] * num_convs
        self.convs = nn.ModuleList(ConvNorm(a, b, 3, norm, relu=True) for a, b in pairwise(chans))
        self.fc = nn.Linear(chans[-1] * pool * pool, fc_dim)
        self.cls_score = nn.Linear(fc_dim, num_classes + 1)
        self.bbox_pred = nn.Linear(fc_dim, 4 * num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for conv in self.convs:
            x = conv(x)
        x = F.relu(self.fc(x.flatten(1)))
        return self.cls_score(x), self.bbox_pred(x)


def multiclass_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    image_ids: torch.Tensor,
    score_thr: float,
    nms_iou: float,
    max_per_image: int,
) -> Detections:
    """Candidates are (RoI, class) pairs scoring strictly above ``score_thr``; NMS per image and class
    (classes never suppress each other); the ``max_per_image`` best of each image, by decreasing score.

    boxes (R, K, 4), scores (R, K), image_ids (R,).
    """
    num_classes = scores.shape[1]
    r, k = torch.nonzero(scores > score_thr, as_tuple=True)
    boxes, scores, img = boxes[r, k], scores[r, k], image_ids[r]
    keep = grouped_nms(boxes, scores, img * num_classes + k, nms_iou)
    keep = keep_top_per_image(keep, img, max_per_image)
    return Detections(boxes[keep], scores[keep], k[keep], img[keep])


def postprocess_detections(
    logits: torch.Tensor,
    deltas: torch.Tensor,
    proposals: torch.Tensor,
    image_ids: torch.Tensor,
    image_sizes: torch.Tensor,
    stds: list[float],
    decode: Callable[..., torch.Tensor],
    score_thr: float,
    nms_iou: float,
    max_per_image: int,
) -> Detections:
    """Softmax (background last, dropped), class-specific decode clipped to each image, multiclass NMS."""
    num_classes = logits.shape[1] - 1
    scores = F.softmax(logits.float(), dim=-1)[:, :num_classes]
    boxes = decode(proposals, deltas.float(), stds, image_sizes[image_ids]).reshape(-1, num_classes, 4)
    return multiclass_nms(boxes, scores, image_ids, score_thr, nms_iou, max_per_image)
