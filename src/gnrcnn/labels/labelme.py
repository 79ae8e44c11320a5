"""LabelMe pre-labels: one JSON per image beside it, as labelme 5 saves them (``version``, ``flags``,
``shapes``, ``imagePath`` relative to the JSON, ``imageData`` null: labelme reads the image file).

Each object is a ``polygon`` shape labelled with its class name; an object of several parts is one
shape per part sharing a ``group_id`` (labelme's own way of grouping, and how ``import-data`` merges
them back into one instance). LabelMe polygons cannot have holes: an object with a hole gets its
outer ring (the hole filled). The score goes into the shape's ``description`` ("score 0.93"), the
only free-text place labelme shows per shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..fileio import write_json_atomic
from .objects import ImageLabels
from .polygons import mask_to_polygons

LABELME_VERSION = "5.5.0"  # the format of labelme 5's LabelFile


def shapes(img: ImageLabels, tolerance: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, obj in enumerate(img.objects):
        rings = mask_to_polygons(obj.mask, tolerance)
        group = i if len(rings) > 1 else None
        out += [{"label": obj.label, "points": ring.astype(float).round(2).tolist(), "group_id": group,
                 "description": f"score {obj.score:.3f}", "shape_type": "polygon", "flags": {}, "mask": None}
                for ring in rings]  # fmt: skip
    return out


def write(images: list[ImageLabels], out: str | Path, class_names: list[str], *, tolerance: float) -> Path:
    """``out/<image stem>.json`` beside each image (``ImageLabels.file_name``, relative to ``out``)."""
    out = Path(out)
    for img in images:
        doc = {"version": LABELME_VERSION, "flags": {}, "shapes": shapes(img, tolerance),
               "imagePath": Path(img.file_name).name, "imageData": None, "imageHeight": img.height,
               "imageWidth": img.width}  # fmt: skip
        write_json_atomic(doc, (out / img.file_name).with_suffix(".json"), "LabelMe file", indent=2)
    return out
