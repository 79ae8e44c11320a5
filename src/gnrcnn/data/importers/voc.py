"""Pascal VOC: ``Annotations/*.xml`` boxes, ``JPEGImages/``, and ``SegmentationObject/*.png`` where present.

A box is ``<bndbox>`` in VOC's 1-based pixel coordinates, both ends included (``xmin - 1`` and ``xmax``
in COCO's pixel-edge coordinates, as detectron2's VOC reader takes them). Where
``SegmentationObject/<stem>.png`` exists, pixel value k is the k-th ``<object>`` of the XML (255 marks
VOC's uncertain border, left out), and that object's mask is its instance mask; otherwise the box is
the mask. ``difficult`` objects are kept as crowd regions, which training and COCO evaluation ignore,
as VOC's own evaluation does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .common import BOX, MASK, Imported, ImportedImage, Shape, checked_size, skip


def _object_masks(png: Path) -> np.ndarray | None:
    from PIL import Image

    with Image.open(png) as im:
        return np.asarray(im) if im.mode in ("P", "L") else None


def _shapes(root: ET.Element, masks: np.ndarray | None) -> list[Shape]:
    shapes = []
    for k, obj in enumerate(root.iterfind("object"), start=1):
        label = (obj.findtext("name") or "").strip()
        name = f"object {k} ('{label}')"
        crowd = (obj.findtext("difficult") or "0").strip() == "1"
        box = obj.find("bndbox")
        if masks is not None and (masks == k).any():
            shapes.append(Shape(label, MASK, name, mask=masks == k, crowd=crowd))
            continue
        if box is None:
            shapes.append(Shape(label, "object without bndbox", name))
            continue
        x0, y0, x1, y1 = (float(box.findtext(t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax"))
        shapes.append(Shape(label, BOX, name, box=(x0 - 1, y0 - 1, x1, y1), crowd=crowd))
    return shapes


def read_one(xml: Path, src: Path) -> tuple[ImportedImage | None, list]:
    where = str(xml)
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as e:
        return None, [skip(where, f"not a readable VOC XML ({e}); not imported", "unreadable-file")]
    file_name = (root.findtext("filename") or f"{xml.stem}.jpg").strip()
    image = src / "JPEGImages" / file_name
    try:
        declared = (int(root.findtext("size/width") or 0), int(root.findtext("size/height") or 0))
    except ValueError:
        declared = (0, 0)
    size = checked_size(image, where, declared if min(declared) > 0 else None)  # some tools write 0 x 0
    if not isinstance(size, tuple):
        return None, [size]
    w, h = size
    png = src / "SegmentationObject" / f"{xml.stem}.png"
    masks, problems = None, []
    if png.is_file():
        try:
            masks = _object_masks(png)
        except (OSError, ValueError, SyntaxError):
            masks = None
        if masks is None or masks.shape != (h, w):
            problems.append(skip(str(png), "not a palette PNG of the image's size; boxes imported instead",
                                 "unreadable-image"))  # fmt: skip
            masks = None
    try:
        shapes = _shapes(root, masks)
    except ValueError as e:
        return None, [*problems, skip(where, f"unreadable bndbox ({e}); not imported", "unreadable-file")]
    return ImportedImage(image.relative_to(src).as_posix(), w, h, where, shapes), problems


def read(src: Path) -> Imported:
    src = src.resolve()
    images, problems = [], []
    for xml in sorted((src / "Annotations").glob("*.xml")):
        img, found = read_one(xml, src)
        problems += found
        if img is not None:
            images.append(img)
    return Imported(src, images, None, problems)
