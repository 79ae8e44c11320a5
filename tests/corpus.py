"""A corpus of broken (and unusual but valid) COCO inputs, each with the outcome gnrcnn promises.

``build(root)`` copies a good generated dataset and adds one item per case; ``CASES`` pairs each
case with its expected outcome: "error" (training stops before the first iteration and
``check-data`` lists it), "skip" (left out with a warning; ``check-data`` lists it) or "valid".
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils


@dataclass(frozen=True)
class Case:
    name: str
    outcome: str  # error | skip | valid
    needle: str  # what the one-line message must contain


CASES = [
    Case("truncated-jpeg", "skip", "truncated.jpg (image 901)"),
    Case("text-as-png", "skip", "text.png (image 902): not a decodable image (no JPEG, PNG, GIF, WebP, BMP or TIFF "
         "header); image dropped"),
    Case("png-16-bit", "valid", ""),
    Case("grey-png", "valid", ""),
    Case("rgba-png", "valid", ""),
    Case("size-mismatch", "skip", "wrong_size.png (image 906): is 120x100 but the JSON says 128x128"),
    Case("exif-rotated-jpeg", "valid", ""),
    Case("exif-rotated-raw-size", "skip", "exif_raw.jpg (image 908): is 128x64 but the JSON says 64x128"),
    Case("polygon-2-points", "skip", "annotation 9001 (image 1, train/000001.png): no polygon with an even number"),
    Case("self-intersecting-polygon", "valid", ""),
    Case("rle-wrong-size", "skip", "annotation 9003 (image 2, train/000002.png): RLE size [64, 64] differs"),
    Case("box-outside", "skip", "annotation 9004 (image 2, train/000002.png): bbox [500, 500, 20, 20] does not"),
    Case("negative-width", "skip", "annotation 9005 (image 3, train/000003.png): degenerate bbox [30, 30, -10, 20]"),
    Case("unknown-category", "skip", "annotation 9006 (image 3, train/000003.png): category 42 is not in"),
    Case("zero-area-polygon", "skip", "annotation 8001 (image 5, train/000005.png): zero-area polygon"),
    Case("box-polygon-mismatch", "skip", "annotation 8002 (image 5, train/000005.png): bbox [10, 10, 20, 20] and "
         "polygon extent disagree (IoU 0.00 < 0.5)"),
    Case("duplicate-image-id", "error", "image id 4: appears twice in 'images'"),
    Case("annotation-of-missing-image", "error", "annotation 9008: refers to image 777, which is not in 'images'"),
    Case("missing-file", "error", "missing.png (image 909): image file not found"),
]  # fmt: skip


def _shape_image(size: tuple[int, int] = (128, 128), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((*size, 3), 90, np.uint8) + rng.integers(0, 30, (*size, 3), dtype=np.uint8)
    cv2.rectangle(img, (20, 20), (60, 70), (200, 40, 40), -1)
    return img


def _ann(ann_id: int, image_id: int, bbox: list[float], segm: object = None, cat: int = 3) -> dict:
    x, y, w, h = bbox
    if segm is None:
        segm = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    return {"id": ann_id, "image_id": image_id, "category_id": cat, "bbox": bbox, "area": abs(w * h),
            "iscrowd": 0, "segmentation": segm}  # fmt: skip


def _exif_jpeg(img: np.ndarray, orientation: int) -> bytes:
    pil = Image.fromarray(img)
    exif = pil.getexif()
    exif[274] = orientation
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=92, exif=exif.tobytes())
    return buf.getvalue()


def _add_images(root: Path, data: dict) -> None:
    bad = root / "bad"
    bad.mkdir()
    img = _shape_image()
    box = [20.0, 20.0, 41.0, 51.0]

    def add(image_id: int, name: str, w: int = 128, h: int = 128) -> None:
        data["images"].append({"id": image_id, "file_name": f"bad/{name}", "width": w, "height": h})
        data["annotations"].append(_ann(image_id * 10, image_id, box))

    _, jpg = cv2.imencode(".jpg", img)
    (bad / "truncated.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    add(901, "truncated.jpg")
    (bad / "text.png").write_text("this file is plain text, not a PNG\n")
    add(902, "text.png")
    cv2.imwrite(str(bad / "deep.png"), img.astype(np.uint16) * 257)
    add(903, "deep.png")
    cv2.imwrite(str(bad / "grey.png"), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    add(904, "grey.png")
    cv2.imwrite(str(bad / "rgba.png"), np.dstack([img, np.full(img.shape[:2], 200, np.uint8)]))
    add(905, "rgba.png")
    cv2.imwrite(str(bad / "wrong_size.png"), _shape_image((100, 120)))
    add(906, "wrong_size.png")
    tall = _shape_image((128, 64))  # stored 64 wide x 128 high; EXIF 6 turns it into 128 x 64
    (bad / "exif.jpg").write_bytes(_exif_jpeg(tall, 6))
    add(907, "exif.jpg", w=128, h=64)
    (bad / "exif_raw.jpg").write_bytes(_exif_jpeg(tall, 6))
    add(908, "exif_raw.jpg", w=64, h=128)


def _add_annotations(data: dict) -> None:
    rle = mask_utils.encode(np.asfortranarray(np.ones((64, 64), np.uint8)))
    data["annotations"] += [
        _ann(9001, 1, [10, 10, 20, 20], [[10, 10, 30, 30]]),
        _ann(9002, 1, [40, 40, 30, 30], [[40, 40, 70, 70, 70, 40, 40, 70]]),  # a bow tie
        _ann(9003, 2, [10, 10, 20, 20], {"size": [64, 64], "counts": rle["counts"].decode()}),
        _ann(9004, 2, [500, 500, 20, 20]),
        _ann(9005, 3, [30, 30, -10, 20]),
        _ann(9006, 3, [30, 30, 10, 20], cat=42),
        _ann(8001, 5, [10, 10, 20, 20], [[10, 10, 20, 20, 30, 30]]),  # three points on a line
        _ann(8002, 5, [10, 10, 20, 20], [[80, 80, 110, 80, 110, 110, 80, 110]]),  # the polygon is elsewhere
    ]


def _add_errors(root: Path, data: dict) -> None:
    dup = dict(data["images"][3])
    dup["file_name"] = "train/000001.png"
    data["images"].append(dup)
    data["annotations"].append(_ann(9008, 777, [10, 10, 20, 20]))
    data["images"].append({"id": 909, "file_name": "bad/missing.png", "width": 128, "height": 128})
    data["annotations"].append(_ann(9090, 909, [10, 10, 20, 20]))


def build(good: Path, root: Path, with_errors: bool = True) -> Path:
    """Copy the good dataset at ``good`` to ``root`` and mix the corpus in; returns the annotation file."""
    shutil.copytree(good, root)
    ann = root / "annotations" / "train.json"
    data = json.loads(ann.read_text())
    _add_images(root, data)
    _add_annotations(data)
    if with_errors:
        _add_errors(root, data)
    ann.write_text(json.dumps(data))
    return ann
