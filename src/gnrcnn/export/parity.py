"""How closely two sets of detections agree: one-to-one matches by class, box IoU and score, and the
mask IoU of each matched pair. Used to check an exported model against PyTorch.

Shapes: boxes (n, 4) xyxy; scores (n,); labels (n,); groups (n,) (the image index, or zeros);
masks (n, H, W) bool.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..modeling.box_ops import pairwise_iou
from ..structures import Instances

BOX_IOU = 0.98
SCORE_DIFF = 0.01


def match(
    a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...], box_iou_min: float = BOX_IOU,
    score_diff_max: float = SCORE_DIFF,
) -> list[tuple[int, int]]:  # fmt: skip
    """Greedy one-to-one pairs (i, j) of a = (boxes, scores, labels, groups) and b alike: same label
    and group, IoU >= ``box_iou_min``, |score difference| <= ``score_diff_max``; a's detections in
    decreasing score take their best free partner."""
    if len(a[0]) == 0 or len(b[0]) == 0:
        return []
    iou = pairwise_iou(a[0].float(), b[0].float())
    ok = (iou >= box_iou_min) & ((a[1][:, None] - b[1][None]).abs() <= score_diff_max)
    ok &= (a[2][:, None] == b[2][None]) & (a[3][:, None] == b[3][None])
    iou = torch.where(ok, iou, -1.0)
    pairs, free = [], torch.ones(len(b[0]), dtype=torch.bool)
    for i in torch.argsort(a[1], descending=True, stable=True).tolist():  # at most a few hundred detections
        cand = torch.where(free, iou[i], -1.0)
        j = int(cand.argmax())
        if cand[j] >= 0:
            pairs.append((i, j))
            free[j] = False
    return pairs


@dataclass
class Agreement:
    detections: int  # in the reference
    other: int  # in the other result
    matched: int
    mask_ious: list[float]

    @property
    def matched_fraction(self) -> float:
        return 1.0 if max(self.detections, self.other) == 0 else self.matched / max(self.detections, self.other)

    @property
    def mean_mask_iou(self) -> float:
        return sum(self.mask_ious) / len(self.mask_ious) if self.mask_ious else 1.0


def compare_instances(ref: Instances, other: Instances) -> Agreement:
    """How ``other`` agrees with ``ref`` (one image's results)."""
    zeros = [torch.zeros(len(x), dtype=torch.int64) for x in (ref, other)]
    pairs = match((ref.boxes, ref.scores, ref.labels, zeros[0]), (other.boxes, other.scores, other.labels, zeros[1]))
    ious = []
    for i, j in pairs:
        inter = (ref.masks[i] & other.masks[j]).sum()
        union = (ref.masks[i] | other.masks[j]).sum()
        ious.append(1.0 if int(union) == 0 else float(inter) / float(union))
    return Agreement(len(ref), len(other), len(pairs), ious)


def total(agreements: list[Agreement]) -> Agreement:
    """All images' agreements as one."""
    return Agreement(sum(a.detections for a in agreements), sum(a.other for a in agreements),
                     sum(a.matched for a in agreements), [v for a in agreements for v in a.mask_ious])  # fmt: skip
