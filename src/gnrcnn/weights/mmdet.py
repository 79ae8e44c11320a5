"""MMDetection key names (``configs/gn`` Mask R-CNN) <-> gnrcnn key names, one-to-one.

Norm layers are ``gn*``/``bn*`` in MMDetection (named after their type) and ``norm*`` here.
"""

from __future__ import annotations

import re

import torch

RULES: list[tuple[str, str]] = [
    (r"^backbone\.(?:gn|bn)1\.", "backbone.norm1."),
    (r"^(backbone\.layer\d+\.\d+)\.(?:gn|bn)(\d)\.", r"\1.norm\2."),
    (r"^neck\.(lateral_convs|fpn_convs)\.(\d+)\.(?:gn|bn)\.", r"fpn.\1.\2.norm."),
    (r"^neck\.", "fpn."),
    (r"^rpn_head\.rpn_conv\.", "rpn.head.conv."),
    (r"^rpn_head\.rpn_cls\.", "rpn.head.cls_logits."),
    (r"^rpn_head\.rpn_reg\.", "rpn.head.bbox_pred."),
    (r"^roi_head\.bbox_head\.shared_convs\.(\d+)\.(?:gn|bn)\.", r"roi_heads.box_head.convs.\1.norm."),
    (r"^roi_head\.bbox_head\.shared_convs\.", "roi_heads.box_head.convs."),
    (r"^roi_head\.bbox_head\.shared_fcs\.0\.", "roi_heads.box_head.fc."),
    (r"^roi_head\.bbox_head\.fc_cls\.", "roi_heads.box_head.cls_score."),
    (r"^roi_head\.bbox_head\.fc_reg\.", "roi_heads.box_head.bbox_pred."),
    (r"^roi_head\.mask_head\.convs\.(\d+)\.(?:gn|bn)\.", r"roi_heads.mask_head.convs.\1.norm."),
    (r"^roi_head\.mask_head\.convs\.", "roi_heads.mask_head.convs."),
    (r"^roi_head\.mask_head\.upsample\.", "roi_heads.mask_head.upsample."),
    (r"^roi_head\.mask_head\.conv_logits\.", "roi_heads.mask_head.logits."),
]
_COMPILED = [(re.compile(p), r) for p, r in RULES]


def map_key(key: str) -> str:
    for pattern, repl in _COMPILED:
        key = pattern.sub(repl, key)
    return key


def is_mmdet_detector(state_dict: dict[str, torch.Tensor]) -> bool:
    return any(k.startswith(("roi_head.", "rpn_head.", "neck.")) for k in state_dict)


def is_mmdet_backbone(state_dict: dict[str, torch.Tensor]) -> bool:
    """An ImageNet backbone file as MMDetection loads it: ResNet keys without the ``backbone.`` prefix."""
    return "conv1.weight" in state_dict and any(k.startswith("layer1.") for k in state_dict)


def convert_detector(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(gnrcnn state dict, gnrcnn key -> MMDetection key)."""
    origin = {map_key(k): k for k in state_dict}
    return {g: state_dict[k] for g, k in origin.items()}, origin


def convert_backbone(
    state_dict: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], list[str], dict[str, str]]:
    """``conv1.weight``/``gn1``/``bn1``/``layerX...`` -> ``backbone.*``; the classifier (``fc.*``) is ignored."""
    out, ignored, origin = {}, [], {}
    for k, v in state_dict.items():
        if k.startswith("fc.") or k.endswith("num_batches_tracked"):
            ignored.append(k)
            continue
        key = map_key("backbone." + k)
        out[key], origin[key] = v, k
    return out, ignored, origin
