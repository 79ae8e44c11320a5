"""The one detection matcher: greedy one-to-one matching by score, and how closely two results agree.

``greedy_match`` is the rule every comparison uses (an exported model against PyTorch, bf16 against
fp32, the confusion matrix and the colours of ``gnrcnn analyze``, the reference tests): the detections
taken in decreasing score, each takes its best free partner among those allowed. ``match`` and
``compare_instances`` apply it to two sets of detections (same class, box IoU, score difference).

Shapes: boxes (n, 4) xyxy; scores (n,); labels (n,); masks (n, H, W) bool.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..modeling.box_ops import pairwise_iou
from ..structures import Instances

BOX_IOU = 0.98  # an exported model's detections against PyTorch's: the same boxes but for rounding
SCORE_DIFF = 0.01


def greedy_match(
    quality: torch.Tensor, scores: torch.Tensor, min_quality: float = 0.0, reusable: torch.Tensor | None = None
) -> torch.Tensor:
    """(n,) the column matched to each row of ``quality`` (n, m), or -1.

    Rows go in decreasing ``scores`` (ties: in order); each takes the free column of highest quality if
    that is >= ``min_quality`` (a negative quality: not allowed). A ``reusable`` column (m,) bool (a crowd
    region) stays free once taken.
    """
    n, m = quality.shape
    out = torch.full((n,), -1, dtype=torch.int64)
    if n == 0 or m == 0:
        return out
    quality = quality.detach().float().cpu()
    free = torch.ones(m, dtype=torch.bool)
    keep_free = reusable.cpu() if reusable is not None else torch.zeros(m, dtype=torch.bool)
    for i in torch.argsort(scores.detach().cpu(), descending=True, stable=True).tolist():  # sequential by nature
        cand = torch.where(free, quality[i], -1.0)
        j = int(cand.argmax())
        if cand[j] >= min_quality and cand[j] >= 0:
            out[i] = j
            free[j] = bool(keep_free[j])
    return out


Detections = Instances | tuple[torch.Tensor, ...]  # or (boxes, scores, labels[, groups]): flat over images


def _parts(x: Detections) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    boxes, scores, labels, *rest = (x.boxes, x.scores, x.labels) if isinstance(x, Instances) else x
    groups = rest[0] if rest else torch.zeros(len(scores), dtype=torch.int64)
    return boxes.float().cpu(), scores.float().cpu(), labels.cpu(), groups.cpu()


def match(a: Detections, b: Detections, box_iou: float = BOX_IOU, score_diff: float | None = SCORE_DIFF,
          same_label: bool = True) -> list[tuple[int, int]]:  # fmt: skip
    """Pairs (i, j) of ``a``'s detections matched to ``b``'s: box IoU >= ``box_iou``, the same label (unless
    not ``same_label``) and group (the image, when several images' detections come flat), scores within
    ``score_diff`` (None: any); ``a``'s best first. ``a``, ``b``: ``Instances``, or (boxes, scores, labels[,
    groups]) tensors."""
    (ab, as_, al, ag), (bb, bs, bl, bg) = _parts(a), _parts(b)
    if len(as_) == 0 or len(bs) == 0:
        return []
    iou = pairwise_iou(ab, bb)
    ok = (iou >= box_iou) & (ag[:, None] == bg[None])
    if same_label:
        ok &= al[:, None] == bl[None]
    if score_diff is not None:
        ok &= (as_[:, None] - bs[None]).abs() <= score_diff
    j = greedy_match(torch.where(ok, iou, -1.0), as_)
    return [(i, int(j[i])) for i in torch.nonzero(j >= 0).squeeze(1).tolist()]


@dataclass
class Agreement:
    detections: int  # in the reference (those scoring >= min_score)
    other: int  # in the other result
    matched: int
    mask_ious: list[float]
    largest_score_change: float = 0.0  # over the matched pairs

    @property
    def matched_fraction(self) -> float:
        """Matched over the larger count: 1 only when both have the same detections."""
        return 1.0 if max(self.detections, self.other) == 0 else self.matched / max(self.detections, self.other)

    @property
    def found(self) -> float:
        """The share of the reference's detections the other result has too."""
        return 1.0 if self.detections == 0 else self.matched / self.detections

    @property
    def mean_mask_iou(self) -> float:
        return sum(self.mask_ious) / len(self.mask_ious) if self.mask_ious else 1.0


def compare_instances(ref: Instances, other: Instances, box_iou: float = BOX_IOU, score_diff: float | None = SCORE_DIFF,
                      min_score: float = 0.0, same_label: bool = True) -> Agreement:  # fmt: skip
    """How ``other`` agrees with ``ref`` (one image's results): ``ref``'s detections scoring >= ``min_score``
    matched one-to-one (``match``) to any of ``other``'s, and the mask IoU of each matched pair."""
    keep = torch.nonzero(ref.scores.cpu() >= min_score).squeeze(1)
    ref = ref.to("cpu")
    ref = Instances(ref.boxes[keep], ref.scores[keep], ref.labels[keep], ref.masks[keep], ref.image_shape)
    pairs = torch.tensor(match(ref, other, box_iou, score_diff, same_label), dtype=torch.int64).reshape(-1, 2)
    ia, ib = pairs[:, 0], pairs[:, 1]
    ious: list[float] = []
    masks = other.masks.cpu()
    for s in range(0, len(ia), 16):  # pairs of full-size masks, a bounded chunk at a time
        x, y = ref.masks[ia[s : s + 16]], masks[ib[s : s + 16]]
        inter, union = (x & y).flatten(1).sum(1), (x | y).flatten(1).sum(1)
        ious += torch.where(union > 0, inter / union.clamp(min=1), 1.0).tolist()
    change = float((ref.scores[ia] - other.scores.cpu()[ib]).abs().max()) if len(ia) else 0.0
    return Agreement(len(ref), len(other), len(ia), ious, change)


def total(agreements: list[Agreement]) -> Agreement:
    """All images' agreements as one."""
    return Agreement(sum(a.detections for a in agreements), sum(a.other for a in agreements),
                     sum(a.matched for a in agreements), [v for a in agreements for v in a.mask_ious],
                     max((a.largest_score_change for a in agreements), default=0.0))  # fmt: skip
