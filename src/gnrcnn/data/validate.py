"""Checks of COCO entries and image files, each returning a ``Problem`` (one line) or the cleaned value.

The rules follow the reference: crowd annotations and boxes with w < 1, h < 1, area <= 0 or no
overlap with the image are dropped; polygons need an even number >= 6 of coordinates (an
annotation with none left is dropped); unknown categories are dropped. Beyond the reference, polygons
whose points all lie on one line (no area) are dropped, and so is an annotation whose box and polygon
extent overlap with IoU < 0.5 (they cannot both be right; training would learn from the wrong one).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..progress import progress as progress_bar
from .image_io import undecodable
from .problems import ERROR, SKIP, Problem
from .records import ImageRecord

# A box and its polygons' extent overlapping less than this are two different objects: one is wrong.
BOX_POLYGON_MIN_IOU = 0.5


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_image_entry(img: Any, index: int, where: str) -> Problem | None:
    if not isinstance(img, dict) or not _is_int(img.get("id")):
        return Problem(ERROR, f"{where}: images[{index}]", "has no integer 'id'", "bad-image-entry")
    name = f"{where}: image {img['id']}"
    if not isinstance(img.get("file_name"), str) or not img["file_name"]:
        return Problem(ERROR, name, "has no 'file_name'", "bad-image-entry")
    if not (_is_int(img.get("width")) and _is_int(img.get("height")) and img["width"] > 0 and img["height"] > 0):
        return Problem(ERROR, f"{name} ({img['file_name']})", "needs positive integer 'width' and 'height'",
                       "bad-image-entry")  # fmt: skip
    return None


def collinear(p: list[float]) -> bool:
    """All points of a flat [x0, y0, x1, y1, ...] polygon on one line (or one point): it covers no area.
    Returns at the first point off the line (usually the third), so a real polygon costs next to nothing."""
    x0, y0 = p[0], p[1]
    ux = uy = 0.0
    for i in range(2, len(p), 2):
        dx, dy = p[i] - x0, p[i + 1] - y0
        if not (ux or uy):
            ux, uy = dx, dy
        elif abs(ux * dy - uy * dx) > 1e-9 * (abs(ux) + abs(uy)) * (abs(dx) + abs(dy) + 1):
            return False
    return True


def _extent_iou(polys: list[list[float]], bbox: list[float]) -> float:
    """IoU of the polygons' extent with the annotation's box [x, y, w, h]."""
    px0 = min(min(p[0::2]) for p in polys)
    py0 = min(min(p[1::2]) for p in polys)
    px1 = max(max(p[0::2]) for p in polys)
    py1 = max(max(p[1::2]) for p in polys)
    x, y, w, h = bbox
    iw = max(0.0, min(px1, x + w) - max(px0, x))
    ih = max(0.0, min(py1, y + h) - max(py0, y))
    union = (px1 - px0) * (py1 - py0) + w * h - iw * ih
    return iw * ih / union if union > 0 else 0.0


# The polygon checks' messages, shared with the fast path (``index_polygons.py``) so both say the same.
NO_POLYGON = "no polygon with an even number (>= 6) of coordinates (3 points or more); dropped"
ZERO_AREA = "zero-area polygon (all its points on one line); dropped"


def mismatch_message(bbox: Sequence[float], iou: float) -> str:
    return f"bbox {list(bbox)} and polygon extent disagree (IoU {iou:.2f} < {BOX_POLYGON_MIN_IOU}); dropped"


def partial_message(dropped: int) -> str:
    return f"{dropped} malformed or zero-area polygon(s) dropped, the instance kept"


def _check_polygons(segm: list[Any], bbox: list[float], name: str) -> tuple[Any, Problem | None]:
    polys = [p for p in segm if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 and all(map(_is_num, p))]
    if not polys:
        return None, Problem(SKIP, name, NO_POLYGON, "bad-polygon")
    flat = [collinear(p) for p in polys]
    if all(flat):
        return None, Problem(SKIP, name, ZERO_AREA, "zero-area-polygon")
    iou = _extent_iou(polys, bbox)
    if iou < BOX_POLYGON_MIN_IOU:
        return None, Problem(SKIP, name, mismatch_message(bbox, iou), "box-polygon-mismatch")
    dropped = len(segm) - len(polys) + sum(flat)
    if dropped:
        kept = [p for p, f in zip(polys, flat) if not f]
        return kept, Problem(SKIP, name, partial_message(dropped), "bad-polygon")
    return polys, None


def _check_segmentation(segm: Any, img: dict[str, Any], name: str, bbox: list[float]) -> tuple[Any, Problem | None]:
    """The usable segmentation (polygons or RLE) and a problem, if any."""
    if isinstance(segm, list):
        return _check_polygons(segm, bbox, name)
    if isinstance(segm, dict):
        size, counts = segm.get("size"), segm.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and isinstance(counts, (str, list))):
            return None, Problem(SKIP, name, "RLE segmentation needs 'size' [h, w] and 'counts'; dropped", "bad-rle")
        if list(size) != [img["height"], img["width"]]:
            return None, Problem(SKIP, name, f"RLE size {size} differs from the image's [{img['height']}, "
                                 f"{img['width']}]; dropped", "bad-rle")  # fmt: skip
        return segm, None
    return None, Problem(SKIP, name, "no segmentation (polygons or RLE); dropped", "no-segmentation")


def check_annotation(
    ann: Any,
    index: int,
    images: dict[int, dict[str, Any]],
    cat_to_label: dict[int, int],
    seen_ids: set[int],
    where: str,
    need_masks: bool = True,
) -> tuple[Any, Problem | None]:
    """(what to keep, problem). What to keep is the segmentation (polygons or RLE; True when masks are
    not needed), or None when the annotation is dropped: crowd (silently, as the reference) or a problem."""
    if not isinstance(ann, dict):
        return None, Problem(ERROR, f"{where}: annotations[{index}]", "is not an object", "bad-annotation")
    ann_id = ann.get("id")
    name = f"{where}: annotation {ann_id if ann_id is not None else f'[{index}]'}"
    if _is_int(ann_id):
        if ann_id in seen_ids:
            return None, Problem(SKIP, name, "id appears twice; the later one dropped", "duplicate-annotation-id")
        seen_ids.add(ann_id)
    img = images.get(ann.get("image_id"))  # type: ignore[arg-type]
    if img is None:
        return None, Problem(ERROR, name, f"refers to image {ann.get('image_id')!r}, which is not in 'images'",
                             "missing-image-entry")  # fmt: skip
    name += f" (image {img['id']}, {img['file_name']})"
    if ann.get("iscrowd", 0):
        return None, None
    if ann.get("category_id") not in cat_to_label:
        return None, Problem(SKIP, name, f"category {ann.get('category_id')!r} is not in 'categories'; dropped",
                             "unknown-category")  # fmt: skip
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_is_num, bbox))):
        return None, Problem(SKIP, name, f"bbox must be 4 numbers [x, y, w, h], got {str(bbox)[:60]}; dropped",
                             "bad-box")  # fmt: skip
    x, y, w, h = bbox
    area = ann.get("area", w * h)
    if w < 1 or h < 1 or not _is_num(area) or area <= 0:
        return None, Problem(SKIP, name, f"degenerate bbox {bbox} (area {area}); dropped", "degenerate-box")
    inter_w = max(0.0, min(x + w, img["width"]) - max(x, 0.0))
    inter_h = max(0.0, min(y + h, img["height"]) - max(y, 0.0))
    if inter_w * inter_h == 0:
        return None, Problem(SKIP, name, f"bbox {bbox} does not overlap the image; dropped", "box-outside")
    if not need_masks:
        return True, None
    return _check_segmentation(ann.get("segmentation"), img, name, bbox)


def _header(record: ImageRecord) -> Problem | None:
    """Cheap check from the file header: a decodable image format whose size matches the JSON."""
    from PIL import Image, UnidentifiedImageError

    name = f"{record.path} (image {record.image_id})"
    if not record.path.is_file():
        return Problem(ERROR, name, "image file not found", "missing-file")
    try:
        with Image.open(record.path) as im:
            w, h = im.size
            orientation = im.getexif().get(274, 1) if im.format in ("JPEG", "TIFF", "WEBP", "PNG") else 1
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        with open(record.path, "rb") as f:
            head = f.read(16)
        return Problem(SKIP, name, f"{undecodable(head)}; image dropped", "unreadable-image")
    if orientation in (5, 6, 7, 8):  # decoders apply EXIF rotation: width and height swap
        w, h = h, w
    if (w, h) != (record.width, record.height):
        return Problem(SKIP, name, f"is {w}x{h} but the JSON says {record.width}x{record.height}; image dropped",
                       "size-mismatch")  # fmt: skip
    return None


def usable_files(records: Sequence[ImageRecord], problems: list[Problem], progress: bool = False) -> np.ndarray:
    """Header-check every image (threads: it is I/O), a chunk at a time (memory stays bounded at any size);
    which records' files are usable (problems appended)."""
    ok = np.ones(len(records), bool)
    with ThreadPoolExecutor(max_workers=8) as pool, progress_bar(total=len(records), desc="image headers", unit="img",
                                                         disable=not progress or len(records) < 2000,
                                                         file=sys.stderr, leave=False) as bar:  # fmt: skip
        for start in range(0, len(records), 4096):
            found = list(pool.map(_header, records[start : start + 4096]))
            problems += [p for p in found if p is not None]
            ok[start : start + len(found)] = [p is None for p in found]
            bar.update(len(found))
    return ok
