"""What every importer produces and how it becomes COCO: shapes checked against their image, one line per problem.

A reader turns its tool's files into ``ImportedImage``s holding ``Shape``s in pixel coordinates
(polygons, boxes or full-image masks) and lists what it could not read as ``Problem`` lines. ``to_coco``
checks every shape against its image (off the image, degenerate, unknown label: one line each,
nothing dropped silently), clips what sticks out, and encodes polygons and masks with pycocotools,
the encoder COCO's own tools read back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...coco_results import encode_mask
from ..masks import to_rle
from ..problems import SKIP, Problem
from ..validate import collinear

POLYGON, BOX, MASK = "polygon", "box", "mask"


@dataclass
class Shape:
    """One instance: ``polygons`` (each an (n, 2) array of x, y), a ``box`` (x0, y0, x1, y1) or a ``mask``
    (bool, the image's height x width). ``name`` says where it is in its file, for the problem lines."""

    label: str
    kind: str  # POLYGON | BOX | MASK, or the tool's own name of a type that cannot be imported
    name: str  # "shape 3 (polygon 'cat')", "object 2 ('dog')", "line 5"
    polygons: list[np.ndarray] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | None = None
    crowd: bool = False  # VOC's 'difficult': kept, ignored by training and evaluation as COCO's crowd regions
    problem: str = ""  # why the reader could not read its geometry (a brush RLE that does not decode, ...)


@dataclass
class ImportedImage:
    file_name: str  # relative to the data root
    width: int
    height: int
    source: str  # the annotation file it came from, for the problem lines
    shapes: list[Shape] = field(default_factory=list)


@dataclass
class Imported:
    """A reader's result: images, the labels it declares (in their order), what it could not read."""

    root: Path  # the --data-root the file names are relative to
    images: list[ImportedImage]
    declared_labels: list[str] | None  # None: the tool declares none; labels are sorted by name
    problems: list[Problem] = field(default_factory=list)


def skip(where: str, message: str, kind: str) -> Problem:
    return Problem(SKIP, where, message, kind)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header, EXIF rotation applied (as every decoder and labelling tool shows it);
    raises OSError/ValueError for a file that is not an image."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        orientation = im.getexif().get(274, 1) if im.format in ("JPEG", "TIFF", "WEBP", "PNG") else 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def checked_size(path: Path, where: str, declared: tuple[int, int] | None = None) -> tuple[int, int] | Problem:
    """The image's (width, height), or the one line saying why it cannot be used (missing, not an image,
    or another size than the annotation file declares)."""
    try:
        w, h = image_size(path)
    except (OSError, ValueError, SyntaxError):
        why = "not found" if not path.exists() else "not a decodable image"
        return skip(where, f"image {path} is {why}; not imported", "unreadable-image")
    if declared is not None and declared != (w, h):
        return skip(
            where, f"declares {declared[0]}x{declared[1]} but {path.name} is {w}x{h}; not imported", "size-mismatch"
        )
    return w, h


def _polygon_ann(shape: Shape, w: int, h: int) -> tuple[dict[str, Any] | None, str, str]:
    from pycocotools import mask as mask_util

    polys = [p for p in shape.polygons if len(p) >= 3]
    if not polys:
        return None, "fewer than 3 points", "degenerate-shape"
    xy = np.concatenate(polys)
    if xy[:, 0].max() <= 0 or xy[:, 1].max() <= 0 or xy[:, 0].min() >= w or xy[:, 1].min() >= h:
        where = f"x {xy[:, 0].min():.0f}..{xy[:, 0].max():.0f}, y {xy[:, 1].min():.0f}..{xy[:, 1].max():.0f}"
        return None, f"off the image ({where} on a {w}x{h} image)", "off-image"
    polys = [np.clip(p, 0, [w, h]) for p in polys]
    flat = [[round(float(v), 2) for v in p.reshape(-1)] for p in polys]
    keep = [i for i, f in enumerate(flat) if not collinear(f)]  # as check-data and training judge them
    if not keep:
        return None, "zero area (all points on one line)", "degenerate-shape"
    polys, flat = [polys[i] for i in keep], [flat[i] for i in keep]
    area = float(mask_util.area(to_rle(flat, h, w)))
    xy = np.concatenate(polys)
    x0, y0 = xy.min(0)
    x1, y1 = xy.max(0)
    if area <= 0 or x1 - x0 < 1 or y1 - y0 < 1:
        return None, f"zero area (covers no pixel; extent {x1 - x0:.1f} x {y1 - y0:.1f} px)", "degenerate-shape"
    bbox = [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)]
    return {"segmentation": flat, "area": area, "bbox": bbox}, "", ""


def _box_ann(shape: Shape, w: int, h: int) -> tuple[dict[str, Any] | None, str, str]:
    assert shape.box is not None
    x0, y0, x1, y1 = shape.box
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        return None, f"off the image (box {x0:.0f},{y0:.0f}..{x1:.0f},{y1:.0f} on a {w}x{h} image)", "off-image"
    x0, x1 = max(x0, 0.0), min(x1, float(w))
    y0, y1 = max(y0, 0.0), min(y1, float(h))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None, f"degenerate box ({x1 - x0:.1f} x {y1 - y0:.1f} px)", "degenerate-shape"
    shape.polygons = [np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)]
    return _polygon_ann(shape, w, h)  # the rectangle is the mask a box-only tool gives


def _mask_ann(shape: Shape, w: int, h: int) -> tuple[dict[str, Any] | None, str, str]:
    from pycocotools import mask as mask_util

    m = shape.mask
    assert m is not None
    if m.shape != (h, w):
        return None, f"mask is {m.shape[1]}x{m.shape[0]}, the image {w}x{h}", "degenerate-shape"
    if not m.any():
        return None, "empty mask (no pixel set)", "degenerate-shape"
    seg = encode_mask(m)
    rle = to_rle(seg, h, w)
    x, y, bw, bh = (float(v) for v in mask_util.toBbox(rle))
    return {"segmentation": seg, "area": float(mask_util.area(rle)), "bbox": [x, y, bw, bh]}, "", ""


def annotation(shape: Shape, w: int, h: int) -> tuple[dict[str, Any] | None, str, str]:
    """(COCO fields: segmentation, area, bbox) or (None, why, kind tag)."""
    if shape.kind == POLYGON:
        return _polygon_ann(shape, w, h)
    if shape.kind == BOX:
        return _box_ann(shape, w, h)
    if shape.kind == MASK:
        return _mask_ann(shape, w, h)
    return None, f"shape type '{shape.kind}' is not an instance outline (polygon, box or mask)", "unsupported-shape"


def category_names(imported: Imported) -> list[str]:
    """The categories, ids 1..K in this order: the tool's declared labels, else the labels of the outlines
    (polygons, boxes, masks) sorted by name: the same data always gives the same ids."""
    if imported.declared_labels is not None:
        return list(dict.fromkeys(imported.declared_labels))
    return sorted({s.label for img in imported.images for s in img.shapes if s.kind in (POLYGON, BOX, MASK)})


def to_coco(imported: Imported) -> tuple[dict[str, Any], list[Problem], dict[str, int]]:
    """The COCO instances dict, the problems of every shape left out, and counts for the summary."""
    names = category_names(imported)
    ids = {n: i + 1 for i, n in enumerate(names)}
    images, anns, problems = [], [], []
    counts = {"shapes": 0, "imported": 0, "crowd": 0}
    for image_id, img in enumerate(sorted(imported.images, key=lambda i: i.file_name), start=1):
        images.append({"id": image_id, "file_name": img.file_name, "width": img.width, "height": img.height})
        for shape in img.shapes:
            counts["shapes"] += 1
            where = f"{img.source}: {shape.name}"
            if shape.problem:
                problems.append(skip(where, f"{shape.problem}; not imported", "unreadable-shape"))
                continue
            if shape.kind not in (POLYGON, BOX, MASK):
                fields, why, tag = annotation(shape, img.width, img.height)
                problems.append(skip(where, f"{why}; not imported", tag))
                continue
            if shape.label not in ids:
                problems.append(skip(where, f"label '{shape.label}' is not one of the declared labels "
                                     f"({', '.join(names)}); not imported", "unknown-label"))  # fmt: skip
                continue
            fields, why, tag = annotation(shape, img.width, img.height)
            if fields is None:
                problems.append(skip(where, f"{why}; not imported", tag))
                continue
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": ids[shape.label],
                         "iscrowd": int(shape.crowd), **fields})  # fmt: skip
            counts["imported"] += 1
            counts["crowd"] += int(shape.crowd)
    cats = [{"id": ids[n], "name": n, "supercategory": ""} for n in names]
    return {"images": images, "annotations": anns, "categories": cats}, problems, counts
