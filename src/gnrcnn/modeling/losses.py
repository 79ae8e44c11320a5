"""Loss functions of Mask R-CNN as MMDetection defines them. Pure functions of tensors.

Shapes: S sampled items; logits (S,) or (S, C); targets alike; all computed in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def objectness_loss(logits: torch.Tensor, labels: torch.Tensor, avg_factor: float) -> torch.Tensor:
    """Binary cross-entropy summed over the sampled anchors, divided by ``avg_factor``."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="sum") / avg_factor


def l1_loss(pred: torch.Tensor, target: torch.Tensor, avg_factor: float) -> torch.Tensor:
    """|pred - target| summed over all coordinates, divided by ``avg_factor``."""
    return (pred.float() - target).abs().sum() / avg_factor


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy averaged over the sampled RoIs (background is the last class)."""
    if labels.numel() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), labels, reduction="mean")


def mask_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of each positive RoI's own-class map, averaged over all pixels."""
    if targets.numel() == 0:
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="mean")
