"""Detections -> COCO results records (RLE masks, ``coco_results.py``) and pictures."""

from __future__ import annotations

import colorsys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.io import encode_png
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from ..coco_results import coco_records, encode_masks
from ..fileio import write_bytes_atomic
from ..structures import Instances

__all__ = ["draw", "encode_masks", "palette", "save_png", "to_coco_records"]


def to_coco_records(
    inst: Instances, category_ids: list[int], image_id: int | None = None, file_name: str | None = None
) -> list[dict[str, Any]]:
    """One COCO results record per detection: bbox [x, y, w, h] in original pixels, RLE segmentation."""
    return coco_records(inst.boxes, inst.scores, inst.labels, inst.masks, category_ids, image_id, file_name)


def palette(n: int) -> list[tuple[int, int, int]]:
    """Distinct, stable colours: hues a golden angle apart."""
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.75, 0.95)) for i in range(n)]


def draw(image: np.ndarray, inst: Instances, class_names: list[str], score_thr: float = 0.3) -> torch.Tensor:
    """Masks, boxes and 'name score' labels of detections scoring >= ``score_thr`` on an RGB image."""
    img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    keep = inst.scores >= score_thr
    if not bool(keep.any()):
        return img
    labels = inst.labels[keep].tolist()
    colors = [palette(len(class_names))[i] for i in labels]
    img = draw_segmentation_masks(img, inst.masks[keep].cpu(), alpha=0.45, colors=colors)
    text = [f"{class_names[i]} {s:.2f}" for i, s in zip(labels, inst.scores[keep].tolist())]
    width = max(1, round(max(image.shape[:2]) / 400))
    return draw_bounding_boxes(img, inst.boxes[keep].cpu(), text, colors=colors, width=width)


def save_png(img: torch.Tensor, path: str | Path) -> None:
    """(3, H, W) uint8 RGB -> a PNG file, written atomically."""
    write_bytes_atomic(encode_png(img.contiguous()).numpy().tobytes(), path, "picture", sync=False)
