"""Detections as COCO results records: ``bbox`` [x, y, w, h], ``score``, ``category_id``, RLE ``segmentation``.

Plain conversion of tensors, below everything that runs a model, so that ``Instances.to_coco()``
and the evaluation share one encoding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils


def encode_masks(masks: torch.Tensor) -> list[dict[str, Any]]:
    """(n, H, W) bool -> COCO RLEs with utf-8 ``counts``, all masks in one pycocotools call."""
    if masks.shape[0] == 0:
        return []
    # (n, W, H) C-order is (H, W, n) Fortran order: the column-major layout RLE wants, without a copy per mask.
    arr = masks.transpose(1, 2).contiguous().cpu().numpy().astype(np.uint8).transpose(2, 1, 0)
    rles = mask_utils.encode(arr)
    for r in rles:
        r["counts"] = r["counts"].decode("utf-8")
    return rles


def coco_records(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor | None,
    category_ids: list[int] | tuple[int, ...], image_id: int | None = None, file_name: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One record per detection: boxes (n, 4) xyxy in original pixels, labels in 0..K-1 mapped through
    ``category_ids``; ``segmentation`` from ``masks`` (n, H, W) when given and not empty."""
    boxes = boxes.detach().cpu().double()
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1).tolist()
    rles = encode_masks(masks) if masks is not None else []
    head: dict[str, Any] = {}
    if image_id is not None:
        head["image_id"] = image_id
    if file_name is not None:
        head["file_name"] = file_name
    out = []
    for i, (bbox, score, label) in enumerate(zip(xywh, scores.tolist(), labels.tolist())):
        rec = dict(head, category_id=int(category_ids[label]), bbox=[round(v, 3) for v in bbox], score=round(score, 5))
        if rles:
            rec["segmentation"] = rles[i]
        out.append(rec)
    return out
