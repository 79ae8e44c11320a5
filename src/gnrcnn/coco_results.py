"""Detections as COCO results records: ``bbox`` [x, y, w, h], ``score``, ``category_id``, RLE ``segmentation``,
keyed by ``file_name`` and, where a ground truth gives one, ``image_id``; and the one reader of results files
(``gnrcnn predict``'s predictions.json, ``gnrcnn eval``'s results.json; both written by
``fileio.write_json_list_atomic``, record by record).

Plain conversion of tensors, below everything that runs a model, so that ``Instances.to_coco()``, the
evaluation and the dataset writers (generated shapes, imported labels) share one mask encoding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pycocotools import mask as mask_utils

from .errors import GnrcnnError, read_input_file

if TYPE_CHECKING:
    import torch


def encode_masks(masks: torch.Tensor | np.ndarray) -> list[dict[str, Any]]:
    """(n, H, W) bool (or 0/1) masks -> COCO RLEs with utf-8 ``counts``, all in one pycocotools call."""
    if masks.shape[0] == 0:
        return []
    if isinstance(masks, np.ndarray):  # the dataset writers': no torch needed
        arr = np.asfortranarray(masks.astype(np.uint8).transpose(1, 2, 0))
    else:  # (n, W, H) C-order is (H, W, n) Fortran order: the column-major layout RLE wants, without a copy per mask
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
    xyxy = boxes.tolist()
    xywh = [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in xyxy]
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


def encode_mask(mask: np.ndarray | torch.Tensor) -> dict[str, Any]:
    """One (H, W) mask -> its COCO RLE (``encode_masks`` of one)."""
    return encode_masks(mask[None])[0]


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """A results file's records; anything but a JSON list is one error line naming the file."""
    try:
        results = json.loads(read_input_file(path, "results"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GnrcnnError(f"{path}: not a JSON results file") from None
    if not isinstance(results, list):
        raise GnrcnnError(f"{path}: a COCO results file is a JSON list of detections")
    return results
