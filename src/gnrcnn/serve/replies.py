"""Detections -> the JSON reply (COCO records with class names) and the overlay PNG."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torchvision.io import encode_png

from ..structures import Instances
from ..visualize.draw import draw


@dataclass(frozen=True)
class ReplyOptions:
    """The query options of /predict and /predict.png."""

    score_thr: float = 0.0
    max_detections: int | None = None
    masks: bool = True


def select(inst: Instances, opts: ReplyOptions) -> Instances:
    """The detections scoring >= ``score_thr``, best first, at most ``max_detections``."""
    order = torch.argsort(inst.scores, descending=True, stable=True)
    order = order[inst.scores[order] >= opts.score_thr][: opts.max_detections]
    return replace(inst, boxes=inst.boxes[order], scores=inst.scores[order], labels=inst.labels[order],
                   masks=inst.masks[order] if opts.masks else inst.masks[:0])  # fmt: skip


def detections_json(inst: Instances) -> list[dict[str, Any]]:
    """COCO records (bbox [x, y, w, h], RLE ``segmentation`` when masks were kept) plus the class name,
    both from the result (a detector's results carry its names and category ids)."""
    records = replace(inst, name="").to_coco()
    out = []
    for rec, name in zip(records, inst.label_names):
        item = {"category_id": rec["category_id"], "category": name, "score": rec["score"],
                "bbox": rec["bbox"]}  # fmt: skip
        if "segmentation" in rec:
            item["segmentation"] = rec["segmentation"]
        out.append(item)
    return out


def overlay_png(image: np.ndarray, inst: Instances) -> bytes:
    """The picture ``gnrcnn predict`` draws (masks, boxes, 'name score'), as PNG bytes in memory."""
    if inst.masks.shape[0] != len(inst):  # masks=false: boxes and labels only (an all-False view, no copy)
        inst = replace(inst, masks=torch.zeros((1, *image.shape[:2]), dtype=torch.bool).expand(len(inst), -1, -1))
    return encode_png(draw(image, inst, score_thr=0.0).contiguous()).numpy().tobytes()
