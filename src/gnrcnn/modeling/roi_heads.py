"""RoI heads: the box head and the mask head on pooled proposals, their post-processing into
detections, and their own training targets and losses.

Shapes: K classes; features {name: (N, C, H/s, W/s)}; proposals flat (``structures.Proposals``);
RoIs (R, 5) as (image index, x1, y1, x2, y2) in resized-image pixels; detections flat
(``structures.Detections``) plus mask probabilities (D, M, M) of each detection's own class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config.schema import RoIConfig
from ..structures import Detections, Proposals, Targets
from . import box_coder
from .box_ops import multiclass_nms
from .losses import classification_loss, l1_loss, mask_loss
from .mask_head import select_class
from .roi_pooler import MultiScaleRoIAlign, pooling_features
from .roi_targets import label_and_sample_proposals, mask_targets


def to_rois(boxes: torch.Tensor, image_ids: torch.Tensor) -> torch.Tensor:
    """(R, 4) boxes + (R,) image ids -> (R, 5) RoIs for RoIAlign."""
    return torch.cat([image_ids[:, None].to(boxes.dtype), boxes], dim=1)


class RoIHeads(nn.Module):
    """Detections and their masks from proposals; with targets, the box and mask losses instead.

    ``box_head`` maps pooled RoIs to (class logits (R, K + 1), deltas (R, 4K)); ``mask_head`` maps
    pooled RoIs to (R, K, M, M) logits. Any modules with those contracts can stand in.
    """

    def __init__(
        self, *, in_features: list[str], box_pooler: MultiScaleRoIAlign, box_head: nn.Module,
        mask_pooler: MultiScaleRoIAlign, mask_head: nn.Module, num_classes: int, cfg: RoIConfig,
        box_arithmetic: str = "mmdet",
    ) -> None:  # fmt: skip
        super().__init__()
        self.in_features = list(in_features)
        self.box_pooler, self.box_head = box_pooler, box_head
        self.mask_pooler, self.mask_head = mask_pooler, mask_head
        self.num_classes = num_classes
        self.cfg = cfg
        self.decode = box_coder.decoder(box_arithmetic)

    def forward(
        self, features: dict[str, torch.Tensor], proposals: Proposals, image_sizes: torch.Tensor,
        targets: Targets | None = None,
    ) -> tuple[tuple[Detections, torch.Tensor] | None, dict[str, torch.Tensor]]:  # fmt: skip
        """Without targets: ((detections, mask probabilities), {}). With targets: (None, losses)."""
        if targets is not None:
            return None, self.losses([features[k] for k in self.in_features], proposals, targets)
        feats = self.pooled_inputs(features)
        dets = self.predict_boxes(feats, proposals, image_sizes)
        return (dets, self.predict_masks(feats, dets)), {}

    def pooled_inputs(self, features: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The maps both poolers read at inference (reduced precision on the CPU: one fp32 copy for both)."""
        return pooling_features([features[k] for k in self.in_features])

    def predict_boxes(self, feats: list[torch.Tensor], proposals: Proposals, image_sizes: torch.Tensor) -> Detections:
        """Softmax (background last, dropped), class-specific decode clipped to each image, multi-class NMS
        (per class, or over all classes with ``cfg.class_agnostic_nms``)."""
        c, k = self.cfg, self.num_classes
        logits, deltas = self.box_head(self.box_pooler(feats, to_rois(proposals.boxes, proposals.image_ids)))
        scores = F.softmax(logits.float(), dim=-1)[:, :k]
        ids = proposals.image_ids
        boxes = self.decode(proposals.boxes, deltas.float(), c.box_stds, image_sizes[ids]).reshape(-1, k, 4)
        return multiclass_nms(boxes, scores, ids, score_thr=c.score_thr, nms_iou=c.nms_iou,
                              max_per_image=c.max_detections, class_agnostic=c.class_agnostic_nms)  # fmt: skip

    def predict_masks(self, feats: list[torch.Tensor], dets: Detections) -> torch.Tensor:
        """(D, M, M) sigmoid probabilities of each detection's own class."""
        m = self.cfg.mask_size
        if dets.boxes.shape[0] == 0:
            return feats[0].new_zeros((0, m, m), dtype=torch.float32)
        logits = self.mask_head(self.mask_pooler(feats, to_rois(dets.boxes, dets.image_ids)))
        return select_class(logits, dets.labels).float().sigmoid()

    def losses(self, feats: list[torch.Tensor], proposals: Proposals, targets: Targets) -> dict[str, torch.Tensor]:
        """Softmax CE + class-specific L1 on sampled proposals, mask BCE on the positives (docs/spec/SEMANTICS.md,
        section 6)."""
        k = self.num_classes
        s = label_and_sample_proposals(proposals.boxes, proposals.image_ids, targets.padded(), num_classes=k,
                                       cfg=self.cfg)  # fmt: skip
        cls, reg = self.box_head(self.box_pooler(feats, s.rois))
        pos_labels = s.labels[: s.num_pos]
        pos_reg = reg[: s.num_pos].view(s.num_pos, k, 4)[torch.arange(s.num_pos, device=reg.device), pos_labels]
        return {
            "loss_cls": classification_loss(cls, s.labels),
            "loss_bbox": l1_loss(pos_reg, s.deltas, max(len(s.labels), 1)),
            "loss_mask": self._mask_loss(feats, s.rois[: s.num_pos], pos_labels, targets.masks, s.gt_index),
        }

    def _mask_loss(
        self, feats: list[torch.Tensor], rois: torch.Tensor, labels: torch.Tensor, gt_masks: torch.Tensor,
        gt_index: torch.Tensor,
    ) -> torch.Tensor:  # fmt: skip
        if rois.shape[0] == 0:
            # No positive RoI (an image without ground truth): run the head on a dummy RoI with zero
            # weight, so every parameter still takes part (DistributedDataParallel needs that).
            dummy = rois.new_tensor([[0.0, 0.0, 0.0, 1.0, 1.0]])
            return self.mask_head(self.mask_pooler(feats, dummy)).sum() * 0.0
        logits = select_class(self.mask_head(self.mask_pooler(feats, rois)), labels)
        return mask_loss(logits, mask_targets(gt_masks, rois, gt_index, self.cfg.mask_size))
