"""Mask R-CNN: ResNet + FPN + RPN + box head + mask head, for inference and training.

Shapes: images (N, 3, Hp, Wp) normalised and padded; image_sizes (N, 2) resized (h, w) before
padding. Inference returns flat detections in resized-image pixels plus (D, 28, 28) mask
probabilities; ``postprocess`` turns them into per-image results in original pixels.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..structures import ImageMeta, Instances
from . import box_coder
from .box_head import BoxHead, Detections, postprocess_detections
from .box_ops import scale_boxes
from .fpn import FPN
from .init import init_weights
from .mask_head import MaskHead, select_class
from .mask_paste import paste_masks
from .resnet import ResNet
from .roi_pooler import MultiScaleRoIAlign
from .rpn import RPN, Proposals, generate_proposals


def to_rois(boxes: torch.Tensor, image_ids: torch.Tensor) -> torch.Tensor:
    """(R, 4) boxes + (R,) image ids -> (R, 5) RoIs for RoIAlign."""
    return torch.cat([image_ids[:, None].to(boxes.dtype), boxes], dim=1)


class MaskRCNN(nn.Module):
    def __init__(self, cfg: ModelConfig, num_classes: int, init: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        b, r = cfg.backbone, cfg.roi
        self.backbone = ResNet(b.depth, b.norm, b.frozen_stages)
        self.fpn = FPN(self.backbone.out_channels, cfg.fpn.channels, cfg.fpn.norm)
        self.rpn = RPN(cfg.fpn.channels, cfg.rpn.strides, cfg.rpn.anchor_scale, cfg.rpn.anchor_ratios, cfg.box_coding)
        self.box_pooler = MultiScaleRoIAlign(r.box_pool, cfg.rpn.strides[:4], r.level_mapping)
        self.mask_pooler = MultiScaleRoIAlign(r.mask_pool, cfg.rpn.strides[:4], r.level_mapping)
        c = cfg.fpn.channels
        self.box_head = BoxHead(num_classes, c, r.box_pool, r.box_convs, r.conv_channels, r.box_fc, r.norm)
        self.mask_head = MaskHead(num_classes, c, r.mask_convs, r.conv_channels, r.norm)
        self.decode = box_coder.decode_detectron2 if cfg.box_coding == "detectron2" else box_coder.decode
        if init:
            init_weights(self, b.zero_init_residual)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """P2..P6."""
        return self.fpn(self.backbone(images))

    def proposals(self, feats: list[torch.Tensor], image_sizes: torch.Tensor) -> Proposals:
        rpn = self.cfg.rpn
        logits, deltas, anchors = self.rpn(feats)
        pre, post = (
            (rpn.pre_nms_topk_train, rpn.post_nms_topk_train)
            if self.training
            else (rpn.pre_nms_topk_test, rpn.post_nms_topk_test)
        )
        return generate_proposals(
            logits, deltas, anchors, image_sizes, pre, post, rpn.nms_iou, rpn.min_box_size, self.decode
        )

    def detect(self, feats: list[torch.Tensor], props: Proposals, image_sizes: torch.Tensor) -> Detections:
        r = self.cfg.roi
        logits, deltas = self.box_head(self.box_pooler(feats[:4], to_rois(props.boxes, props.image_ids)))
        return postprocess_detections(
            logits, deltas, props.boxes, props.image_ids, image_sizes, r.box_stds, self.decode,
            r.score_thr, r.nms_iou, r.max_detections,
        )  # fmt: skip

    def mask_probs(self, feats: list[torch.Tensor], dets: Detections) -> torch.Tensor:
        m = self.cfg.roi.mask_size
        if dets.boxes.shape[0] == 0:
            return feats[0].new_zeros((0, m, m), dtype=torch.float32)
        logits = self.mask_head(self.mask_pooler(feats[:4], to_rois(dets.boxes, dets.image_ids)))
        return select_class(logits, dets.labels).float().sigmoid()

    def forward(self, images: torch.Tensor, image_sizes: torch.Tensor) -> tuple[Detections, torch.Tensor]:
        """Inference: detections in resized-image pixels and their class's mask probabilities."""
        feats = self.features(images)
        props = self.proposals(feats, image_sizes)
        dets = self.detect(feats, props, image_sizes)
        return dets, self.mask_probs(feats, dets)


def postprocess(
    dets: Detections,
    probs: torch.Tensor,
    metas: list[ImageMeta],
    mask_thr: float = 0.5,
    style: str = "mmdet",
) -> list[Instances]:
    """Rescale boxes to each original image, paste masks at full size, split per image."""
    device = dets.boxes.device
    factors = torch.tensor([m.scale_factor for m in metas], dtype=torch.float32, device=device)
    boxes = scale_boxes(dets.boxes, factors[dets.image_ids])
    if style == "detectron2":
        # detectron2 multiplies by original/resized and clips to the original image.
        ori = torch.tensor([m.ori_shape for m in metas], dtype=torch.float32, device=device)
        res = torch.tensor([m.img_shape for m in metas], dtype=torch.float32, device=device)
        ratio = (ori / res).flip(-1)[dets.image_ids]
        boxes = box_coder.clip(dets.boxes * ratio.repeat(1, 2), ori[dets.image_ids])
    masks = paste_masks(probs, boxes, dets.image_ids, [m.ori_shape for m in metas], mask_thr)
    counts = [len(m) for m in masks]
    out = []
    for meta, b, s, lab, mk in zip(
        metas, boxes.split(counts), dets.scores.split(counts), dets.labels.split(counts), masks
    ):
        out.append(Instances(b, s, lab, mk, meta.ori_shape, meta.name))
    return out
