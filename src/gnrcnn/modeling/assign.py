"""Training targets: max-IoU assignment and random sampling, for all images of a batch at once.

Shapes: N images, G ground-truth boxes per image (padded), P candidate boxes per image (anchors or
proposals, padded). iou (N, G, P); gt_valid (N, G); cand_valid (N, P).
Assignment codes (N, P): -1 ignored, 0 negative, g + 1 matched to ground truth g.
"""

from __future__ import annotations

import torch


def max_iou_assign(
    iou: torch.Tensor,
    gt_valid: torch.Tensor,
    cand_valid: torch.Tensor,
    pos_thr: float,
    neg_thr: float,
    min_pos_iou: float,
    low_quality: bool = True,
) -> torch.Tensor:
    """MMDetection's MaxIoUAssigner.

    Negative: max IoU in [0, neg_thr). Positive: max IoU >= pos_thr, matched to its best ground truth.
    Low-quality matches: each ground truth g with best IoU b_g >= min_pos_iou also claims every
    candidate whose IoU with g equals b_g (all ties); where several claim a candidate, the last
    ground truth wins, as in the reference's loop over ground truths.
    """
    n, g, p = iou.shape
    iou = torch.where(gt_valid[:, :, None], iou, iou.new_full((), -1.0))
    codes = torch.full((n, p), -1, dtype=torch.int64, device=iou.device)
    if g == 0 or p == 0:
        return torch.where(cand_valid, torch.zeros_like(codes), codes)
    max_iou, argmax = iou.max(dim=1)  # (N, P): best ground truth of each candidate
    codes[(max_iou >= 0) & (max_iou < neg_thr)] = 0
    codes[~gt_valid.any(dim=1)] = 0  # an image without ground truth: every candidate is negative
    pos = max_iou >= pos_thr
    codes[pos] = argmax[pos] + 1
    if low_quality:
        masked = torch.where(cand_valid[:, None, :], iou, iou.new_full((), -1.0))
        gt_best = masked.max(dim=2).values  # (N, G): best IoU of each ground truth over valid candidates
        claims = (masked == gt_best[:, :, None]) & (gt_best >= min_pos_iou)[:, :, None] & gt_valid[:, :, None]
        order = torch.arange(1, g + 1, device=iou.device)[None, :, None]
        last = (claims * order).max(dim=1).values  # (N, P): 1 + index of the last claiming gt, 0 if none
        codes = torch.where(last > 0, last, codes)
    return torch.where(cand_valid, codes, torch.full_like(codes, -1))


def _random_first(mask: torch.Tensor, k: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, up to ``k`` indices where ``mask`` is True, chosen uniformly at random.

    Returns (indices (N, k), valid (N, k)); rows with fewer than k True entries are padded with valid=False.
    """
    k = min(k, mask.shape[1])
    keys = torch.rand(mask.shape, device=mask.device, generator=generator)
    keys = torch.where(mask, keys, keys.new_full((), -1.0))
    vals, idx = keys.topk(k, dim=1)
    return idx, vals >= 0


def random_sample(
    codes: torch.Tensor, num: int, pos_fraction: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """MMDetection's RandomSampler: up to ``int(num * pos_fraction)`` positives at random, then negatives
    at random to fill ``num``. Returns (pos (N, P) bool, neg (N, P) bool)."""
    n, p = codes.shape
    pos_idx, pos_ok = _random_first(codes > 0, int(num * pos_fraction), generator)
    num_pos = pos_ok.sum(dim=1, keepdim=True)
    neg_idx, neg_ok = _random_first(codes == 0, num, generator)
    neg_ok &= torch.arange(neg_idx.shape[1], device=codes.device)[None] < (num - num_pos)
    pos = torch.zeros((n, p), dtype=torch.bool, device=codes.device)
    neg = torch.zeros_like(pos)
    pos.scatter_(1, pos_idx, pos_ok)
    neg.scatter_(1, neg_idx, neg_ok)
    return pos, neg
