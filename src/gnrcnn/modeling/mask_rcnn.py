"""Mask R-CNN composed of its parts: backbone -> FPN -> RPN -> RoI heads.

Shapes: images (N, 3, Hp, Wp) normalised and padded; image_sizes (N, 2) resized (h, w) before
padding. Inference returns flat detections in resized-image pixels plus (D, M, M) mask
probabilities (``postprocess.to_instances`` takes them to original pixels); training returns the
five losses.

Every part is built from the config unless given: ``MaskRCNN(cfg.model, 3, mask_head=MyHead())``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config.schema import ModelConfig
from ..structures import Detections, Targets
from .anchors import AnchorGenerator
from .box_head import BoxHead
from .fpn import FPN
from .init import init_parts
from .mask_head import MaskHead
from .norm import norm_layer
from .resnet import ResNet
from .roi_heads import RoIHeads
from .roi_pooler import MultiScaleRoIAlign
from .rpn import RPN, RPNHead

RPN_FEATURES = ["p2", "p3", "p4", "p5", "p6"]
ROI_FEATURES = ["p2", "p3", "p4", "p5"]  # P6 is never pooled


def build_backbone(cfg: ModelConfig) -> ResNet:
    b = cfg.backbone
    return ResNet(depth=b.depth, norm=norm_layer(b.norm), frozen_stages=b.frozen_stages, width=b.width)


def build_fpn(cfg: ModelConfig, in_channels: dict[str, int]) -> FPN:
    return FPN(in_channels=in_channels, channels=cfg.fpn.channels, norm=norm_layer(cfg.fpn.norm))


def build_rpn(cfg: ModelConfig) -> RPN:
    r = cfg.rpn
    anchors = AnchorGenerator(strides=r.strides, scale=r.anchor_scale, ratios=r.anchor_ratios,
                              arithmetic=cfg.box_arithmetic)  # fmt: skip
    head = RPNHead(channels=cfg.fpn.channels, num_anchors=anchors.num_anchors)
    return RPN(in_features=RPN_FEATURES, head=head, anchor_generator=anchors, cfg=r,
               box_arithmetic=cfg.box_arithmetic)  # fmt: skip


def build_box_head(cfg: ModelConfig, num_classes: int) -> BoxHead:
    r = cfg.roi
    return BoxHead(num_classes=num_classes, in_channels=cfg.fpn.channels, pool=r.box_pool, num_convs=r.box_convs,
                   conv_channels=r.conv_channels, fc_dim=r.box_fc, norm=norm_layer(r.norm))  # fmt: skip


def build_mask_head(cfg: ModelConfig, num_classes: int) -> MaskHead:
    r = cfg.roi
    return MaskHead(num_classes=num_classes, in_channels=cfg.fpn.channels, num_convs=r.mask_convs,
                    channels=r.conv_channels, norm=norm_layer(r.norm))  # fmt: skip


def build_roi_heads(cfg: ModelConfig, num_classes: int, box_head: nn.Module, mask_head: nn.Module) -> RoIHeads:
    r, strides = cfg.roi, cfg.rpn.strides[: len(ROI_FEATURES)]
    return RoIHeads(
        in_features=ROI_FEATURES, num_classes=num_classes, cfg=r, box_arithmetic=cfg.box_arithmetic,
        box_pooler=MultiScaleRoIAlign(output_size=r.box_pool, strides=strides, level_mapping=r.level_mapping),
        box_head=box_head,
        mask_pooler=MultiScaleRoIAlign(output_size=r.mask_pool, strides=strides, level_mapping=r.level_mapping),
        mask_head=mask_head,
    )  # fmt: skip


class MaskRCNN(nn.Module):
    """``init=False`` skips the random initialisation (for a model whose weights are loaded next)."""

    def __init__(
        self, cfg: ModelConfig, num_classes: int, *, backbone: nn.Module | None = None, fpn: nn.Module | None = None,
        rpn: nn.Module | None = None, box_head: nn.Module | None = None, mask_head: nn.Module | None = None,
        roi_heads: nn.Module | None = None, init: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.cfg, self.num_classes = cfg, num_classes
        defaults = {"backbone": backbone is None, "fpn": fpn is None, "rpn": rpn is None,
                    "box_head": box_head is None and roi_heads is None,
                    "mask_head": mask_head is None and roi_heads is None}  # fmt: skip
        self.backbone = build_backbone(cfg) if backbone is None else backbone
        self.fpn = build_fpn(cfg, self.backbone.out_channels) if fpn is None else fpn
        self.rpn = build_rpn(cfg) if rpn is None else rpn
        if roi_heads is None:
            box_head = build_box_head(cfg, num_classes) if box_head is None else box_head
            mask_head = build_mask_head(cfg, num_classes) if mask_head is None else mask_head
            roi_heads = build_roi_heads(cfg, num_classes, box_head, mask_head)
        self.roi_heads = roi_heads
        self.memory_format = torch.contiguous_format
        self.set_memory_layout(cfg.channels_last, apply=False)  # applied after initialisation
        if init:
            init_parts(
                backbone=self.backbone if defaults["backbone"] else None,
                fpn=self.fpn if defaults["fpn"] else None,
                rpn_head=self.rpn.head if defaults["rpn"] else None,
                box_head=self.roi_heads.box_head if defaults["box_head"] else None,
                mask_head=self.roi_heads.mask_head if defaults["mask_head"] else None,
                zero_init_residual=cfg.backbone.zero_init_residual,
            )  # fmt: skip
            self.apply_memory_layout()

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"p2": ..., "p6": ...}. A backbone with ``stages`` hands its outputs over one at a time (less
        memory); any other returns its {"c2": ...} dict."""
        x = images.contiguous(memory_format=self.memory_format)
        stages = getattr(self.backbone, "stages", None)
        return self.fpn(stages(x) if stages is not None else self.backbone(x))

    def forward(
        self, images: torch.Tensor, image_sizes: torch.Tensor, targets: Targets | None = None
    ) -> tuple[Detections, torch.Tensor] | dict[str, torch.Tensor]:
        """With ``targets``: the five training losses. Without: detections in resized-image pixels
        and their class's mask probabilities."""
        feats = self.features(images)
        proposals, rpn_losses = self.rpn(feats, image_sizes, targets)
        out, roi_losses = self.roi_heads(feats, proposals, image_sizes, targets)
        if targets is not None:
            return {**rpn_losses, **roi_losses}
        return out

    def detect(self, images: torch.Tensor, image_sizes: torch.Tensor) -> tuple[Detections, list[torch.Tensor]]:
        """Inference up to the boxes: detections in resized-image pixels and the maps the RoI heads pool
        from, for ``roi_heads.predict_masks`` on any boxes later (test-time augmentation merges the boxes of
        several views first). ``forward`` without targets is ``detect`` then the masks of its detections."""
        feats = self.features(images)
        proposals, _ = self.rpn(feats, image_sizes)
        pooled = self.roi_heads.pooled_inputs(feats)
        return self.roi_heads.predict_boxes(pooled, proposals, image_sizes), pooled

    # ------------------------------------------------------------------ performance settings
    def set_memory_layout(self, where: str, apply: bool = True) -> None:
        """NHWC convolutions for ``"all"``, for the RoI heads only (``"heads"``), or nowhere (``"none"``)."""
        nhwc, nchw = torch.channels_last, torch.contiguous_format
        self.memory_format = nhwc if where == "all" else nchw
        heads = nhwc if where in ("heads", "all") else nchw
        for pooler in (getattr(self.roi_heads, "box_pooler", None), getattr(self.roi_heads, "mask_pooler", None)):
            if pooler is not None:
                pooler.memory_format = heads
        if apply:
            self.apply_memory_layout()

    def apply_memory_layout(self) -> MaskRCNN:
        """Lay the weights out as set (again after weights are loaded by assignment)."""
        self.to(memory_format=self.memory_format)
        heads = getattr(getattr(self.roi_heads, "box_pooler", None), "memory_format", self.memory_format)
        self.roi_heads.to(memory_format=heads)
        return self

    def configure_training(self, layout: str, recompute_backbone: bool) -> MaskRCNN:
        """Training-time performance settings (results do not depend on them beyond float rounding)."""
        self.set_memory_layout(layout)
        self.backbone.checkpoint_blocks = recompute_backbone
        return self

    def compile_in_place(self) -> None:
        """``torch.compile`` the network in place; state-dict keys stay unchanged. The backbone and FPN
        compile as one graph of fixed shapes, because the backbone hands its stages over one at a time
        (a generator, for memory): compiled apart, the FPN met a generator made outside its graph, fell
        back to eager and compiled block by block (R-18: 19 graphs, recompiled per channel count, where
        now there are 4). The RPN head runs all levels in one call; the box and mask heads see a varying
        number of RoIs, so their shapes are dynamic."""
        self.features = torch.compile(self.features, dynamic=False)  # an attribute, not a module: no new key
        self.rpn.head.compile(dynamic=False)
        for head in (getattr(self.roi_heads, "box_head", None), getattr(self.roi_heads, "mask_head", None)):
            if head is not None:
                head.compile(dynamic=True)
