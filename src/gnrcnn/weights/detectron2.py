"""detectron2 checkpoints (model-zoo ``.pkl``: ``{"model": {name: numpy array}, "__author__": ...}``, or
``.pth`` from detectron2 training) -> gnrcnn names, one-to-one.

Both frameworks put the background class last in ``cls_score`` and use the same (dx, dy, dw, dh)
per-class layout in ``bbox_pred``, so the tensors copy as they are.
"""

from __future__ import annotations

import re
from typing import Any


def _layer(m: re.Match) -> str:
    return f"backbone.layer{int(m[1]) - 1}.{m[2]}."


# (pattern, replacement): a string, or a function of the match for names whose indices shift.
RULES: list[tuple[str, Any]] = [
    (r"^backbone\.bottom_up\.stem\.conv1\.norm\.", "backbone.norm1."),
    (r"^backbone\.bottom_up\.stem\.conv1\.", "backbone.conv1."),
    (r"^backbone\.bottom_up\.res(\d)\.(\d+)\.shortcut\.norm\.", lambda m: _layer(m) + "downsample.1."),
    (r"^backbone\.bottom_up\.res(\d)\.(\d+)\.shortcut\.", lambda m: _layer(m) + "downsample.0."),
    (r"^backbone\.bottom_up\.res(\d)\.(\d+)\.conv(\d)\.norm\.", lambda m: _layer(m) + f"norm{m[3]}."),
    (r"^backbone\.bottom_up\.res(\d)\.(\d+)\.conv(\d)\.", lambda m: _layer(m) + f"conv{m[3]}."),
    (r"^backbone\.fpn_lateral(\d)\.norm\.", lambda m: f"fpn.lateral_convs.{int(m[1]) - 2}.norm."),
    (r"^backbone\.fpn_lateral(\d)\.", lambda m: f"fpn.lateral_convs.{int(m[1]) - 2}.conv."),
    (r"^backbone\.fpn_output(\d)\.norm\.", lambda m: f"fpn.fpn_convs.{int(m[1]) - 2}.norm."),
    (r"^backbone\.fpn_output(\d)\.", lambda m: f"fpn.fpn_convs.{int(m[1]) - 2}.conv."),
    (r"^proposal_generator\.rpn_head\.conv\.", "rpn.head.conv."),
    (r"^proposal_generator\.rpn_head\.objectness_logits\.", "rpn.head.cls_logits."),
    (r"^proposal_generator\.rpn_head\.anchor_deltas\.", "rpn.head.bbox_pred."),
    (r"^roi_heads\.box_head\.conv(\d)\.norm\.", lambda m: f"roi_heads.box_head.convs.{int(m[1]) - 1}.norm."),
    (r"^roi_heads\.box_head\.conv(\d)\.", lambda m: f"roi_heads.box_head.convs.{int(m[1]) - 1}.conv."),
    (r"^roi_heads\.box_head\.fc1\.", "roi_heads.box_head.fc."),
    (r"^roi_heads\.box_predictor\.cls_score\.", "roi_heads.box_head.cls_score."),
    (r"^roi_heads\.box_predictor\.bbox_pred\.", "roi_heads.box_head.bbox_pred."),
    (r"^roi_heads\.mask_head\.mask_fcn(\d)\.norm\.", lambda m: f"roi_heads.mask_head.convs.{int(m[1]) - 1}.norm."),
    (r"^roi_heads\.mask_head\.mask_fcn(\d)\.", lambda m: f"roi_heads.mask_head.convs.{int(m[1]) - 1}.conv."),
    (r"^roi_heads\.mask_head\.deconv\.", "roi_heads.mask_head.upsample."),
    (r"^roi_heads\.mask_head\.predictor\.", "roi_heads.mask_head.logits."),
]
_COMPILED = [(re.compile(p), r) for p, r in RULES]
# Buffers some detectron2 versions save that carry no learned weights.
IGNORABLE = re.compile(r"^(pixel_mean|pixel_std|proposal_generator\.anchor_generator\..*)$")


def is_detectron2(obj: Any) -> bool:
    sd = obj.get("model") if isinstance(obj, dict) else None
    return isinstance(sd, dict) and any(str(k).startswith(("backbone.bottom_up.", "roi_heads.")) for k in sd)


def map_key(key: str) -> str | None:
    for pattern, repl in _COMPILED:
        if pattern.match(key):
            return pattern.sub(repl, key, count=1)
    return None


def convert(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """(gnrcnn state dict, ignored names, gnrcnn key -> detectron2 name). Unknown non-buffer names stay
    as they are, so that the one-to-one check reports them as unexpected."""
    out, ignored, origin = {}, [], {}
    for name, value in obj["model"].items():
        key = map_key(str(name))
        if key is None and IGNORABLE.match(str(name)):
            ignored.append(str(name))
            continue
        out[key or str(name)] = value
        origin[key or str(name)] = str(name)
    return out, ignored, origin
