"""A generated COCO-format dataset of coloured shapes: the demo's data, no download needed.

Each image holds 2-6 circles, triangles and rectangles of random colour, size and rotation on a
noisy, textured background, some partly hiding others. Unoccluded shapes are annotated with their
exact polygon, occluded ones with the RLE of their visible part. ``classes`` picks other shapes of
``SHAPES`` (e.g. stars, hexagons and crosses: a second task to fine-tune a model on); the default
three give the demo's dataset, image for image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..coco_results import encode_mask
from ..errors import GnrcnnError
from ..fileio import write_bytes_atomic, write_json_atomic
from ..progress import progress

CLASSES = ("circle", "triangle", "rectangle")
SHAPES = (*CLASSES, "star", "hexagon", "cross")


def _ring(n: int, radii: tuple[float, ...] = (1.0,)) -> np.ndarray:
    """``n`` points around the unit circle, their radii cycling through ``radii``."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], 1) * np.resize(np.asarray(radii), n)[:, None]


def shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float, aspect: float) -> np.ndarray:
    """The outline of a shape of ``SHAPES`` centred at (cx, cy), size r, rotated by ``angle``."""
    if shape == "circle":
        pts = _ring(48) * r
    elif shape == "triangle":
        t = angle + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
        return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)
    elif shape == "star":
        pts = _ring(10, (1.0, 0.45)) * r
    elif shape == "hexagon":
        pts = _ring(6) * r
    elif shape == "cross":
        a, b = 1.0, 0.5 * aspect  # arm length and half-width
        pts = np.array([[b, b], [a, b], [a, -b], [b, -b], [b, -a], [-b, -a], [-b, -b], [-a, -b], [-a, b], [-b, b],
                        [-b, a], [b, a]], np.float64) * r  # fmt: skip
    else:
        pts = np.array([[-1, -aspect], [1, -aspect], [1, aspect], [-1, aspect]], np.float64) * r
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return pts @ rot.T + [cx, cy]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.integers(40, 216, 3)
    ramp = np.linspace(-1, 1, size)[:, None, None] * rng.integers(-40, 41, 3)
    img = base + ramp + rng.normal(0, rng.uniform(4, 14), (size, size, 3))
    for _ in range(rng.integers(3, 9)):  # texture: faint random lines
        p0, p1 = rng.integers(0, size, 2), rng.integers(0, size, 2)
        color = (base + rng.integers(-35, 36, 3)).tolist()
        cv2.line(img, tuple(int(v) for v in p0), tuple(int(v) for v in p1), color, int(rng.integers(1, 4)))
    return img


def _render(
    rng: np.random.Generator, size: int, classes: tuple[str, ...] = CLASSES
) -> tuple[np.ndarray, list[tuple[int, np.ndarray, np.ndarray]]]:
    """Image and [(class index, polygon, visible mask)] of its shapes."""
    img = _background(rng, size)
    shapes: list[tuple[int, np.ndarray, np.ndarray]] = []
    for _ in range(int(rng.integers(2, 7))):
        for _try in range(20):
            kind = int(rng.integers(0, len(classes)))
            r = rng.uniform(0.07, 0.2) * size
            cx, cy = rng.uniform(r * 0.6, size - r * 0.6, 2)
            poly = shape_polygon(classes[kind], cx, cy, r, rng.uniform(0, np.pi), rng.uniform(0.45, 1.0))
            mask = np.zeros((size, size), np.uint8)
            cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
            # Keep every earlier shape at least 60% visible, so occlusion stays partial.
            if mask.sum() > 60 and all((m & ~mask.astype(bool)).sum() >= 0.6 * m.sum() for _, _, m in shapes):
                break
        else:
            continue
        color = rng.integers(0, 256, 3)
        cv2.fillPoly(img, [np.round(poly).astype(np.int32)], color.tolist())
        shapes = [(k, p, m & ~mask.astype(bool)) for k, p, m in shapes]
        shapes.append((kind, poly, mask.astype(bool)))
    return np.clip(img, 0, 255).astype(np.uint8), shapes


def _annotation(kind: int, poly: np.ndarray, mask: np.ndarray, full: np.ndarray, ann_id: int, img_id: int) -> dict:
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    if mask.sum() == full.sum():  # unoccluded: the exact polygon
        segm: Any = [np.round(poly, 2).flatten().tolist()]
    else:
        segm = encode_mask(mask)
    return {"id": ann_id, "image_id": img_id, "category_id": kind + 1, "iscrowd": 0, "segmentation": segm,
            "bbox": [int(x0), int(y0), int(x1 - x0), int(y1 - y0)], "area": int(mask.sum())}  # fmt: skip


def make_split(
    out: Path, split: str, count: int, size: int, seed: int, first_id: int = 1,
    classes: tuple[str, ...] = CLASSES, empty: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """``count`` images of shapes, then ``empty`` of background alone (negatives, no annotation)."""
    folder = out / split
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, {"train": 0, "val": 1}.get(split, 2)])
    images, anns = [], []
    for i in progress(range(count + empty), desc=f"make-shapes {split}", unit="img", leave=False):
        if i < count:
            img, shapes = _render(rng, size, classes)
        else:  # drawn after the shape images, so these are the same with or without negatives
            img, shapes = np.clip(_background(rng, size), 0, 255).astype(np.uint8), []
        img_id = first_id + i
        name = f"{split}/{img_id:06d}.png"
        write_bytes_atomic(cv2.imencode(".png", img[..., ::-1])[1].tobytes(), out / name, "image", sync=False)
        images.append({"id": img_id, "file_name": name, "width": size, "height": size})
        for kind, poly, mask in shapes:
            full = np.zeros_like(mask, dtype=np.uint8)
            cv2.fillPoly(full, [np.round(poly).astype(np.int32)], 1)
            if mask.sum() >= 20:
                anns.append(_annotation(kind, poly, mask, full.astype(bool), len(anns) + first_id * 100, img_id))
    cats = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(classes)]
    return {"images": images, "annotations": anns, "categories": cats}


def make_shapes(
    out: str | Path, train: int = 200, val: int = 50, size: int = 256, seed: int = 0,
    classes: tuple[str, ...] | list[str] = CLASSES, empty: int = 0,
) -> dict[str, Path]:  # fmt: skip
    """Write ``<out>/{train,val}/*.png`` and ``<out>/annotations/{train,val}.json`` (file names relative to ``out``).

    ``classes``: which of ``SHAPES`` to draw, in category id order (1, 2, ...); ``empty`` more training
    images hold no shape (negatives)."""
    classes = tuple(classes)
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise GnrcnnError(f"shapes classes {list(classes)}: expected distinct names of {', '.join(SHAPES)}")
    out = Path(out)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, count, first in (("train", train, 1), ("val", val, 1_000_000)):
        data = make_split(out, split, count, size, seed, first, classes, empty if split == "train" else 0)
        paths[split] = out / "annotations" / f"{split}.json"
        write_json_atomic(data, paths[split], "annotations")
    return paths
