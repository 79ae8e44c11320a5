"""COCO pre-labels: an instances file (``annotations.json``) for the images under ``images/``, the
format CVAT, Label Studio's converter and most tools import, and what ``gnrcnn train`` reads.

An object without holes is a polygon list (one polygon per part, COCO's way of several parts); an
object with a hole is an RLE (COCO polygons cannot have holes), with ``iscrowd`` 0 as for any one
object. Each annotation keeps its ``score`` (an extra key COCO readers pass over).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pycocotools import mask as mask_utils

from ..coco_results import encode_mask
from ..fileio import write_json_atomic
from .objects import ImageLabels, PreLabel
from .polygons import has_holes, mask_to_polygons


def segmentation(obj: PreLabel, tolerance: float) -> list[list[float]] | dict[str, Any] | None:
    if has_holes(obj.mask):
        return encode_mask(obj.mask)
    rings = mask_to_polygons(obj.mask, tolerance)
    return [ring.astype(float).round(2).reshape(-1).tolist() for ring in rings] or None


def annotations(img: ImageLabels, image_id: int, category: dict[str, int], tolerance: float,
                first_id: int) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for obj in img.objects:
        seg = segmentation(obj, tolerance)
        if seg is None:
            continue
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, img.height, img.width)) if isinstance(seg, list) else {
            "size": seg["size"], "counts": seg["counts"].encode()}  # fmt: skip
        out.append({"id": first_id + len(out), "image_id": image_id, "category_id": category[obj.label],
                    "segmentation": seg, "area": float(mask_utils.area(rle)),
                    "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)], "iscrowd": 0,
                    "score": round(obj.score, 5)})  # fmt: skip
    return out


def write(images: list[ImageLabels], out: str | Path, class_names: list[str], *, tolerance: float) -> Path:
    """``out/annotations.json``, its file names relative to ``out``."""
    out = Path(out)
    category = {name: i + 1 for i, name in enumerate(class_names)}
    coco: dict[str, Any] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i, "name": n, "supercategory": ""} for n, i in category.items()],
    }
    for image_id, img in enumerate(images, start=1):
        coco["images"].append({"id": image_id, "file_name": img.file_name, "width": img.width, "height": img.height})
        coco["annotations"] += annotations(img, image_id, category, tolerance, len(coco["annotations"]) + 1)
    write_json_atomic(coco, out / "annotations.json", "COCO annotations")
    return out / "annotations.json"
