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
from .losses import classification_loss, l1_loss, mask_loss, objectness_loss
from .mask_head import MaskHead, select_class
from .mask_paste import paste_masks
from .resnet import ResNet
from .roi_pooler import MultiScaleRoIAlign
from .rpn import RPN, Proposals, flatten_level, generate_proposals
from .targets import Targets, mask_targets, pad_ground_truth, roi_samples, rpn_samples


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
        self.set_channels_last(cfg.channels_last)
        if init:
            init_weights(self, b.zero_init_residual)
            self.apply_memory_format()

    def set_channels_last(self, where: str) -> None:
        """ "none", "heads" (RoI heads) or "all"; takes effect with ``apply_memory_format``."""
        nhwc, nchw = torch.channels_last, torch.contiguous_format
        self.memory_format = nhwc if where == "all" else nchw
        heads = nhwc if where in ("heads", "all") else nchw
        self.box_pooler.memory_format = self.mask_pooler.memory_format = heads

    def compile_parts(self) -> MaskRCNN:
        """torch.compile the backbone, FPN and heads in place (state-dict keys unchanged); the heads see a
        varying number of RoIs, so they are compiled for dynamic shapes."""
        for part, dynamic in ((self.backbone, False), (self.fpn, False), (self.rpn.head, False),
                              (self.box_head, True), (self.mask_head, True)):  # fmt: skip
            part.compile(dynamic=dynamic)
        return self

    def prepare_training(self, channels_last: bool, checkpoint_backbone: bool) -> MaskRCNN:
        """Training-time performance settings (results do not depend on them beyond float rounding)."""
        if channels_last:
            self.set_channels_last("all")
        self.backbone.checkpoint_blocks = checkpoint_backbone
        return self.apply_memory_format()

    def apply_memory_format(self) -> MaskRCNN:
        """Lay the convolution weights out as configured (after weights are loaded by assignment)."""
        self.to(memory_format=self.memory_format)
        heads = self.box_pooler.memory_format
        for head in (self.box_head, self.mask_head):
            head.to(memory_format=heads)
        return self

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """P2..P6."""
        return self.fpn(self.backbone(images.contiguous(memory_format=self.memory_format)))

    def proposals(self, feats: list[torch.Tensor], image_sizes: torch.Tensor) -> Proposals:
        rpn = self.cfg.rpn
        logits, deltas, anchors = self.rpn(feats)
        pre, post = (
            (rpn.pre_nms_topk_train, rpn.post_nms_topk_train)
            if self.training
            else (rpn.pre_nms_topk_test, rpn.post_nms_topk_test)
        )
        return generate_proposals(
            logits, deltas, anchors, image_sizes, pre, post, rpn.nms_iou, rpn.min_box_size, self.decode,
            self.cfg.box_coding == "detectron2",
        )  # fmt: skip

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

    def forward(
        self, images: torch.Tensor, image_sizes: torch.Tensor, targets: Targets | None = None
    ) -> tuple[Detections, torch.Tensor] | dict[str, torch.Tensor]:
        """With ``targets``: the five training losses. Without: detections in resized-image pixels
        and their class's mask probabilities."""
        if targets is not None:
            return self.losses(images, image_sizes, targets)
        feats = self.features(images)
        props = self.proposals(feats, image_sizes)
        dets = self.detect(feats, props, image_sizes)
        return dets, self.mask_probs(feats, dets)

    def losses(self, images: torch.Tensor, image_sizes: torch.Tensor, targets: Targets) -> dict[str, torch.Tensor]:
        """RPN objectness + L1, softmax CE + class-specific L1, mask BCE (SEMANTICS.md section 6)."""
        cfg, k = self.cfg, self.num_classes
        feats = self.features(images)
        logits, deltas, anchors = self.rpn(feats)
        gt_boxes, gt_labels, gt_valid = pad_ground_truth(targets)
        sizes = [tuple(f.shape[-2:]) for f in feats]
        valid = torch.cat(self.rpn.anchor_generator.valid_mask(sizes, targets.pad_shapes), dim=1)
        rs = rpn_samples(torch.cat(anchors), valid, gt_boxes, gt_valid, cfg.rpn)
        flat = [flatten_level(lg, dl) for lg, dl in zip(logits, deltas)]
        flat_logits, flat_deltas = torch.cat([f[0] for f in flat], 1), torch.cat([f[1] for f in flat], 1)
        sampled = rs.pos | rs.neg
        out = {
            "loss_rpn_cls": objectness_loss(flat_logits[sampled], rs.pos[sampled], rs.avg_factor),
            "loss_rpn_bbox": l1_loss(flat_deltas[rs.pos], rs.deltas, rs.avg_factor),
        }
        rpn = cfg.rpn
        props = generate_proposals(
            logits, deltas, anchors, image_sizes, rpn.pre_nms_topk_train, rpn.post_nms_topk_train, rpn.nms_iou,
            rpn.min_box_size, self.decode, cfg.box_coding == "detectron2",
        )  # fmt: skip
        r = roi_samples(props.boxes, props.image_ids, gt_boxes, gt_labels, gt_valid, k, cfg.roi.box_stds, cfg.roi)
        cls, reg = self.box_head(self.box_pooler(feats[:4], r.rois))
        pos_labels = r.labels[: r.num_pos]
        pos_reg = reg[: r.num_pos].view(r.num_pos, k, 4)[torch.arange(r.num_pos, device=reg.device), pos_labels]
        out["loss_cls"] = classification_loss(cls, r.labels)
        out["loss_bbox"] = l1_loss(pos_reg, r.deltas, max(len(r.labels), 1))
        out["loss_mask"] = self._mask_loss(feats, r.rois[: r.num_pos], pos_labels, targets.masks, r.gt_index)
        return out

    def _mask_loss(
        self, feats: list[torch.Tensor], rois: torch.Tensor, labels: torch.Tensor, gt_masks: torch.Tensor,
        gt_index: torch.Tensor,
    ) -> torch.Tensor:  # fmt: skip
        if rois.shape[0] == 0:
            # No positive RoI (an image without ground truth): run the head on a dummy RoI with zero
            # weight, so every parameter still takes part (DistributedDataParallel needs that).
            dummy = rois.new_tensor([[0.0, 0.0, 0.0, 1.0, 1.0]])
            return self.mask_head(self.mask_pooler(feats[:4], dummy)).sum() * 0.0
        logits = select_class(self.mask_head(self.mask_pooler(feats[:4], rois)), labels)
        return mask_loss(logits, mask_targets(gt_masks, rois, gt_index, self.cfg.roi.mask_size))


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
        # detectron2 multiplies by original/resized, clips to the original image and drops boxes
        # that became empty.
        ori = torch.tensor([m.ori_shape for m in metas], dtype=torch.float32, device=device)
        res = torch.tensor([m.img_shape for m in metas], dtype=torch.float32, device=device)
        ratio = (ori / res).flip(-1)[dets.image_ids]
        boxes = box_coder.clip(dets.boxes * ratio.repeat(1, 2), ori[dets.image_ids])
        keep = torch.nonzero((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).squeeze(1)
        dets = Detections(*(t[keep] for t in dets))
        boxes, probs = boxes[keep], probs[keep]
    masks = paste_masks(probs, boxes, dets.image_ids, [m.ori_shape for m in metas], mask_thr)
    counts = [len(m) for m in masks]
    out = []
    for meta, b, s, lab, mk in zip(
        metas, boxes.split(counts), dets.scores.split(counts), dets.labels.split(counts), masks
    ):
        out.append(Instances(b, s, lab, mk, meta.ori_shape, meta.name))
    return out
