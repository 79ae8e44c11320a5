"""LabelMe: one JSON per image (``shapes``, ``imagePath``, ``imageWidth``/``imageHeight``), as labelme 5 saves it.

``imagePath`` is resolved against the JSON's folder (Windows separators too; the bare file name beside
the JSON when the relative path does not exist, and both named when neither does); the embedded
``imageData`` is ignored: the image file is what training reads. File names are the images' absolute
paths here; ``import_dataset`` makes them relative to the folder holding the JSONs and every image
(``ann/`` + ``images/``: their parent). Polygons, rectangles (two corners) and circles (centre and a point on
the circle, made a 64-gon) are imported; shapes with the same label and ``group_id`` are one
instance, as labelme's own ``labelme2coco`` example merges them. Lines, points and other types are
listed as not imported.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .common import BOX, POLYGON, Imported, ImportedImage, Shape, checked_size, skip

CIRCLE_POINTS = 64


def _points(raw: Any) -> np.ndarray | None:
    try:
        pts = np.asarray(raw, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        return None
    return pts if np.isfinite(pts).all() else None


def _shape(s: dict[str, Any], index: int) -> Shape:
    kind = str(s.get("shape_type") or "polygon")
    label = str(s.get("label", ""))
    name = f"shape {index} ({kind} '{label}')"
    pts = _points(s.get("points"))
    if pts is None:
        return Shape(label, POLYGON, name)  # no valid points: reported as fewer than 3
    if kind == "polygon":
        return Shape(label, POLYGON, name, polygons=[pts])
    if kind == "rectangle" and len(pts) == 2:
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        return Shape(label, BOX, name, box=(x0, y0, x1, y1))
    if kind == "circle" and len(pts) == 2:
        r = float(np.hypot(*(pts[1] - pts[0])))
        t = np.linspace(0, 2 * math.pi, CIRCLE_POINTS, endpoint=False)
        ring = pts[0] + r * np.stack([np.cos(t), np.sin(t)], 1)
        return Shape(label, POLYGON, name, polygons=[ring] if r > 0 else [])
    if kind in ("rectangle", "circle"):
        return Shape(label, POLYGON, name)  # not the two points these need
    return Shape(label, kind, name)


def _image_path(json_path: Path, image_path: str) -> list[Path]:
    """Where the image is looked for: where ``imagePath`` points, then its bare name beside the JSON."""
    rel = image_path.replace("\\", "/")
    places = (json_path.parent / rel, json_path.parent / Path(rel).name)
    return list(dict.fromkeys(Path(os.path.abspath(p)) for p in places))  # "../images" folded; symlinks kept


def _merge_groups(shapes: list[tuple[Shape, Any]]) -> list[Shape]:
    """Polygons with the same (label, group_id) become one instance of several parts."""
    out: list[Shape] = []
    groups: dict[tuple[str, Any], Shape] = {}
    for shape, group in shapes:
        if group is None or shape.kind != POLYGON:
            out.append(shape)
            continue
        key = (shape.label, group)
        if key in groups:
            groups[key].polygons += shape.polygons
            groups[key].name += f" + {shape.name}"
        else:
            groups[key] = shape
            out.append(shape)
    return out


def read_one(path: Path) -> tuple[ImportedImage | None, list]:
    """The image of one JSON, its ``file_name`` the image's absolute path."""
    where = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, [skip(where, f"not a readable LabelMe JSON ({type(e).__name__}: {e}); file not imported",
                           "unreadable-file")]  # fmt: skip
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        return None, []  # some other JSON in the folder (not a LabelMe file): not ours
    if not data.get("imagePath"):
        return None, [skip(where, "has no imagePath (the embedded imageData is not imported: keep the image file "
                           "beside the JSON); file not imported", "unreadable-file")]  # fmt: skip
    looked = _image_path(path, str(data["imagePath"]))
    image = next((p for p in looked if p.is_file()), None)
    if image is None:
        places = ", then ".join(str(p) for p in looked)
        return None, [skip(where, f"image {data['imagePath']} is not found (looked for {places}); not imported",
                           "unreadable-image")]  # fmt: skip
    declared = (data.get("imageWidth"), data.get("imageHeight"))
    size = checked_size(image, where, declared if all(isinstance(v, int) for v in declared) else None)
    if not isinstance(size, tuple):
        return None, [size]
    w, h = size
    shapes = [(_shape(s, i), s.get("group_id")) for i, s in enumerate(data["shapes"]) if isinstance(s, dict)]
    return ImportedImage(image.as_posix(), w, h, where, _merge_groups(shapes)), []


def read(src: Path) -> Imported:
    src = src.resolve()
    images, problems = [], []
    for path in sorted(src.rglob("*.json")):
        img, found = read_one(path)
        problems += found
        if img is not None:
            images.append(img)
    return Imported(src, images, None, problems)
