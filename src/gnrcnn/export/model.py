"""Mask R-CNN's inference path written for ONNX export: the same parts and pure functions as
``MaskRCNN.forward``, with every data-dependent step expressed as a tensor op (fixed-size top-k,
masked scores, ``ops.batched_nms``), so one exported graph serves any image size and batch.

Shapes: images (N, 3, H, W) uint8 RGB, each resized and zero-padded to the batch's H x W, multiples
of the size divisor (32); image_sizes (N, 2) int64 (h, w) before padding. Outputs, flat
over the batch and sorted by image, then decreasing score: boxes (D, 4) xyxy float32 in resized-image
pixels, scores (D,) float32, labels (D,) int64 in 0..K-1, image_ids (D,) int64, mask_probs (D, M, M)
float32 sigmoid probabilities of each detection's own class, spanning its box.

The model is lent: nothing here changes it. Its parts must be the default ones (``RPN`` with
``RPNHead`` and ``AnchorGenerator``, ``RoIHeads`` with two ``MultiScaleRoIAlign``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config.schema import InputConfig
from ..modeling import box_coder
from ..modeling.anchors import grid_anchors
from ..modeling.mask_head import select_class
from ..modeling.mask_rcnn import MaskRCNN
from ..modeling.roi_heads import to_rois
from ..modeling.roi_pooler import MultiScaleRoIAlign
from ..modeling.rpn import flatten_level
from ..structures import Detections, Proposals
from .ops import LOWEST, NO_SCORE, batched_nms, pyramid_roi_align, top_per_image, topk_padded

INPUT_NAMES = ["images", "image_sizes"]
OUTPUT_NAMES = ["boxes", "scores", "labels", "image_ids", "mask_probs"]


def normalize(images: Tensor, sizes: Tensor, cfg: InputConfig) -> Tensor:
    """``data.preprocess.Normalizer`` in the graph: channel order, (x - mean) / std, and exactly zero
    outside each image (the batch comes padded to a multiple of the size divisor)."""
    x = images.float()
    if not cfg.to_rgb:
        x = x.flip(1)
    dev = images.device
    mean = torch.tensor(cfg.mean, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    x = (x - mean) / std
    ys = torch.arange(x.shape[2], device=dev)[None, :, None] < sizes[:, 0, None, None]
    xs = torch.arange(x.shape[3], device=dev)[None, None, :] < sizes[:, 1, None, None]
    return x * (ys & xs)[:, None]


class ExportableMaskRCNN(nn.Module):
    """``(images, image_sizes) -> (boxes, scores, labels, image_ids, mask_probs)`` of a lent ``MaskRCNN``."""

    def __init__(self, model: MaskRCNN, input_cfg: InputConfig) -> None:
        super().__init__()
        self.model = model
        self.input_cfg = input_cfg

    def forward(self, images: Tensor, image_sizes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        sizes = image_sizes.float()
        feats = self.model.features(normalize(images, image_sizes, self.input_cfg))
        proposals = self.proposals(feats, sizes)
        roi_feats = [feats[k] for k in self.model.roi_heads.in_features]
        dets = self.detect(roi_feats, proposals, sizes)
        return (*dets, self.mask_probs(roi_feats, dets))

    def proposals(self, features: dict[str, Tensor], sizes: Tensor) -> Proposals:
        """``rpn.generate_proposals``: top ``pre_nms`` per level, decode and clip, invalid boxes masked,
        NMS per (image, level), each image's top ``post_nms``."""
        rpn = self.model.rpn
        c, gen, arith = rpn.cfg, rpn.anchor_generator, rpn.box_arithmetic
        feats = [features[k] for k in rpn.in_features]
        logits, deltas = rpn.head(feats)
        n, scores, picked_deltas, picked_anchors = sizes.shape[0], [], [], []
        for lvl, (lg, dl) in enumerate(zip(logits, deltas)):
            s, d = flatten_level(lg, dl)
            s = s.float() if arith == "detectron2" else s.float().sigmoid()
            anchors = grid_anchors(gen.base[lvl].to(lg.device), gen.strides[lvl], lg.shape[2], lg.shape[3])
            s, idx = topk_padded(s, c.pre_nms_topk_test)
            scores.append(s)
            picked_deltas.append(torch.gather(d.float(), 1, idx[..., None].expand(-1, -1, 4)))
            picked_anchors.append(anchors[idx])
        boxes = box_coder.decoder(arith)(torch.cat(picked_anchors, 1), torch.cat(picked_deltas, 1),
                                         (1.0, 1.0, 1.0, 1.0), sizes[:, None, :])  # fmt: skip
        scores_all = torch.cat(scores, 1)
        w, h = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
        valid = (w > c.min_box_size) & (h > c.min_box_size) & torch.isfinite(boxes).all(-1) & torch.isfinite(scores_all)
        scores_all = torch.where(valid, scores_all, NO_SCORE)
        num_levels = len(feats)
        levels = torch.arange(num_levels, device=boxes.device)
        level_of = levels.repeat_interleave(c.pre_nms_topk_test)
        per_level = torch.where(level_of[None, None, :] == levels[None, :, None],
                                scores_all[:, None, :], NO_SCORE)  # fmt: skip
        sel = batched_nms(boxes, per_level, c.nms_iou, LOWEST)
        img, box = sel[:, 0], sel[:, 2]
        sel_scores = scores_all[img, box]
        keep = top_per_image(sel_scores, img, n, c.post_nms_topk_test)
        return Proposals(boxes[img[keep], box[keep]], sel_scores[keep], img[keep])

    def detect(self, feats: list[Tensor], proposals: Proposals, sizes: Tensor) -> Detections:
        """``RoIHeads.predict_boxes``: softmax, class-specific decode clipped to the image, NMS per
        (image, class) of the (RoI, class) pairs above ``score_thr`` (per image with ``class_agnostic_nms``),
        each image's best ``max_detections``."""
        heads = self.model.roi_heads
        c, k, n = heads.cfg, heads.num_classes, sizes.shape[0]
        ids = proposals.image_ids
        logits, deltas = self.run_head(heads.box_head, heads.box_pooler, feats, to_rois(proposals.boxes, ids))
        scores = F.softmax(logits.float(), dim=-1)[:, :k]
        boxes = heads.decode(proposals.boxes, deltas.float(), c.box_stds, sizes[ids]).reshape(-1, k, 4)
        r = boxes.shape[0]
        if c.class_agnostic_nms:  # NMS batch b = image: every (RoI, class) pair of that image's RoIs at once
            own = (ids[None, :] == torch.arange(n, device=ids.device)[:, None])[:, :, None].expand(n, r, k)
            cand = torch.where(own, scores[None], NO_SCORE).reshape(n, 1, r * k)
            sel = batched_nms(boxes.reshape(1, r * k, 4).expand(n, r * k, 4), cand, c.nms_iou, c.score_thr)
            img, pair = sel[:, 0], sel[:, 2]
            roi, label = torch.div(pair, k, rounding_mode="floor"), torch.remainder(pair, k)
        else:  # NMS batch b = image * K + class: each class's boxes of all RoIs, scored only for that image's RoIs
            own = ids[None, None, :] == torch.arange(n, device=ids.device)[:, None, None]
            cand = torch.where(own, scores.t()[None], NO_SCORE).reshape(n * k, 1, r)
            per_class = boxes.permute(1, 0, 2)[None].expand(n, k, r, 4).reshape(n * k, r, 4)
            sel = batched_nms(per_class, cand, c.nms_iou, c.score_thr)
            group, roi = sel[:, 0], sel[:, 2]
            img, label = torch.div(group, k, rounding_mode="floor"), torch.remainder(group, k)
        sel_scores = scores[roi, label]
        keep = top_per_image(sel_scores, img, n, c.max_detections)
        roi, label = roi[keep], label[keep]
        return Detections(boxes[roi, label], sel_scores[keep], label, img[keep])

    def mask_probs(self, feats: list[Tensor], dets: Detections) -> Tensor:
        """``RoIHeads.predict_masks``: (D, M, M) sigmoid probabilities of each detection's own class."""
        heads = self.model.roi_heads
        logits = self.run_head(heads.mask_head, heads.mask_pooler, feats, to_rois(dets.boxes, dets.image_ids))
        return select_class(logits, dets.labels).float().sigmoid()

    @staticmethod
    def run_head(head: nn.Module, pooler: MultiScaleRoIAlign, feats: list[Tensor], rois: Tensor) -> Any:
        """``head(pooler(feats, rois))`` on one extra RoI, dropped after: with no RoI at all, the exported
        GroupNorm's reshape of an empty batch would fail in the runtime."""
        extra = torch.cat([rois, rois.new_tensor([[0.0, 0.0, 0.0, 1.0, 1.0]])])
        pooled = pyramid_roi_align(feats, extra, output_size=pooler.output_size, scales=pooler.scales,
                                   level_mapping=pooler.level_mapping)  # fmt: skip
        out = head(pooled)
        r = rois.shape[0]
        return tuple(o[:r] for o in out) if isinstance(out, tuple) else out[:r]
