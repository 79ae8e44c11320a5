"""Detections drawn: masks, boxes and 'name score' labels, and the picture saved as PNG. (COCO records are
``Instances.to_coco``, the one maker, ``coco_results.py``.)"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.io import encode_png
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from ..coco_results import encode_masks
from ..fileio import write_bytes_atomic
from ..structures import Instances

__all__ = ["Color", "draw", "encode_masks", "enlarge_factor", "enlarged", "palette", "save_png", "scaled"]


def palette(n: int) -> list[tuple[int, int, int]]:
    """Distinct, stable colours: hues a golden angle apart."""
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.75, 0.95)) for i in range(n)]


Rect = tuple[float, float, float, float]  # x1, y1, x2, y2
Color = tuple[int, int, int]


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(boxes: list[Rect], sizes: list[tuple[int, int]], image_size: tuple[int, int]) -> list[Rect | None]:
    """Where each box's label (w, h) goes, boxes taken in order (highest score first): above the box,
    inside its top, below it, inside its bottom, at its left edge or its right edge, the first of these
    inside the image that overlaps no label placed before and leaves the box's centre (its object) visible;
    None (label dropped) when every one does."""
    height, width = image_size
    placed: list[Rect] = []
    out: list[Rect | None] = []
    for (x1, y1, x2, y2), (w, h) in zip(boxes, sizes):
        spot = None
        center = ((x1 + x2) / 2, (y1 + y2) / 2)
        for y in (y1 - h, y1, y2, y2 - h):
            for x in (x1, x2 - w):
                x = min(max(x, 0.0), max(width - w, 0.0))
                rect = (x, y, x + w, y + h)
                on_center = rect[0] <= center[0] <= rect[2] and rect[1] <= center[1] <= rect[3]
                if y >= 0 and y + h <= height and not on_center and not any(_overlaps(rect, p) for p in placed):
                    spot = rect
                    break
            if spot is not None:
                break
        if spot is not None:
            placed.append(spot)
        out.append(spot)
    return out


def _draw_labels(img: torch.Tensor, boxes: list[Rect], text: list[str], colors: list[Color]) -> torch.Tensor:
    from PIL import Image, ImageDraw, ImageFont

    h, w = img.shape[1:]
    pil = Image.fromarray(img.permute(1, 2, 0).numpy())
    pen = ImageDraw.Draw(pil)
    font = ImageFont.load_default(size=max(10, round(max(h, w) / 45)))
    pad = max(1, font.size // 6)
    sizes = []
    for t in text:
        left, top, right, bottom = pen.textbbox((0, 0), t, font=font)
        sizes.append((right - left + 2 * pad, bottom - top + 2 * pad))
    for spot, t, color in zip(place_labels(boxes, sizes, (h, w)), text, colors):
        if spot is None:
            continue
        pen.rectangle(spot, fill=color)
        ink = (0, 0, 0) if sum(color) > 400 else (255, 255, 255)  # dark text on light colours
        left, top, _, _ = pen.textbbox((0, 0), t, font=font)
        pen.text((spot[0] + pad - left, spot[1] + pad - top), t, fill=ink, font=font)
    return torch.from_numpy(np.array(pil)).permute(2, 0, 1).contiguous()


def enlarged(image: np.ndarray, *insts: Instances, min_side: int = 512) -> tuple[Any, ...]:
    """A small image and its detections scaled up by a whole factor to >= ``min_side`` px on the long side, so
    that labels (at least 10 px high) are legible and cover little; others as they are."""
    f = enlarge_factor(image.shape[:2], min_side)
    return (image.repeat(f, 0).repeat(f, 1), *(scaled(i, f) for i in insts)) if f > 1 else (image, *insts)


def enlarge_factor(shape: tuple[int, ...], min_side: int = 512) -> int:
    return max(1, -(-min_side // max(shape[:2])))


def scaled(inst: Instances, f: int) -> Instances:
    """Detections on an image scaled up by the whole factor ``f``."""
    if f == 1:
        return inst
    return replace(inst, boxes=inst.boxes * f, masks=inst.masks.repeat_interleave(f, 1).repeat_interleave(f, 2),
                   image_shape=(inst.image_shape[0] * f, inst.image_shape[1] * f))  # fmt: skip


def draw(
    image: np.ndarray, inst: Instances, class_names: Sequence[str] | None = None, score_thr: float = 0.5,
    scores: bool = True, colors: Sequence[Color] | None = None,
) -> torch.Tensor:  # fmt: skip
    """Masks, boxes and 'name score' labels ('name' alone without ``scores``: ground truth) of detections
    scoring >= ``score_thr`` on an RGB image; a label that would cover an earlier (higher-scoring) one or its
    own object's centre moves around its box, or is left out.
    The names are the result's own (``inst.class_names``) unless given; a label without one is its number.
    Colours are by class unless ``colors`` gives one per instance (``analyze``: one per object)."""
    class_names = list(inst.class_names if class_names is None else class_names)
    if len(inst) and int(inst.labels.max()) >= len(class_names):
        class_names += [str(i) for i in range(len(class_names), int(inst.labels.max()) + 1)]
    img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    keep = inst.scores >= score_thr
    if not bool(keep.any()):
        return img
    order = torch.argsort(inst.scores[keep], descending=True, stable=True)
    labels = inst.labels[keep][order].tolist()
    boxes = inst.boxes[keep][order].cpu()
    if colors is None:
        colors = [palette(len(class_names))[i] for i in labels]
    else:
        colors = [colors[i] for i in torch.nonzero(keep)[:, 0][order].tolist()]
    img = draw_segmentation_masks(img, inst.masks[keep][order].cpu(), alpha=0.45, colors=colors)
    width = max(1, round(max(image.shape[:2]) / 400))
    img = draw_bounding_boxes(img, boxes, colors=colors, width=width)
    text = [f"{class_names[i]} {s:.2f}" if scores else class_names[i]
            for i, s in zip(labels, inst.scores[keep][order].tolist())]  # fmt: skip
    return _draw_labels(img, [tuple(b) for b in boxes.tolist()], text, colors)


def save_png(img: torch.Tensor, path: str | Path) -> None:
    """(3, H, W) uint8 RGB -> a PNG file, written atomically."""
    write_bytes_atomic(encode_png(img.contiguous()).numpy().tobytes(), path, "picture", sync=False)
