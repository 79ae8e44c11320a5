"""CVAT for images 1.1: ``annotations.xml`` (with ``images/`` beside it, as CVAT's export zip holds them).

Each ``<image name width height>`` holds ``<polygon points="x,y;x,y;...">``, ``<box xtl ytl xbr ybr>`` and
``<mask rle="a, b, c" left top width height>``: CVAT writes a mask as run lengths over its own box,
row by row, starting with a run of background (0) pixels, the box ``width`` x ``height`` pixels from
(``left``, ``top``). The labels are ``<meta>``'s, in their order; a shape of another label is listed.
A box with CVAT's ``rotation`` (degrees, clockwise) becomes the rotated rectangle as a polygon.
Polylines, points, ellipses, cuboids and skeletons are listed as not imported.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .common import BOX, MASK, POLYGON, Imported, ImportedImage, Shape, checked_size, skip

SHAPE_TAGS = ("polygon", "box", "mask", "polyline", "points", "ellipse", "cuboid", "skeleton")


def decode_rle(counts: list[int], width: int, height: int) -> np.ndarray:
    """CVAT's mask run lengths -> a ``height`` x ``width`` bool array (runs alternate 0, 1, 0, ...)."""
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    if flat.size != width * height:
        raise ValueError(f"run lengths add up to {flat.size} pixels, the mask's box has {width * height}")
    return flat.reshape(height, width)


def encode_rle(mask: np.ndarray) -> list[int]:
    """``decode_rle``'s inverse: a ``height`` x ``width`` bool array -> CVAT's run lengths (row by row, the
    first run of background, 0 when the first pixel is set)."""
    flat = np.asarray(mask, dtype=bool).reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    return [0, *runs] if flat.size and flat[0] else runs


def _floats(el: ET.Element, *names: str) -> list[float]:
    return [float(el.attrib[n]) for n in names]


def _shape(el: ET.Element, index: int, w: int, h: int) -> Shape:
    label = el.attrib.get("label", "")
    name = f"{el.tag} {index} ('{label}')"
    if el.tag == "polygon":
        pts = [p.split(",") for p in el.attrib.get("points", "").split(";") if p]
        return Shape(label, POLYGON, name, polygons=[np.asarray(pts, dtype=np.float64).reshape(-1, 2)])
    if el.tag == "box":
        x0, y0, x1, y1 = _floats(el, "xtl", "ytl", "xbr", "ybr")
        angle = np.deg2rad(float(el.attrib.get("rotation") or 0))  # CVAT: degrees, clockwise about the centre
        if not angle:
            return Shape(label, BOX, name, box=(x0, y0, x1, y1))
        c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])  # clockwise with y down
        corners = (np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) - c) @ turn.T + c
        return Shape(label, POLYGON, name + " rotated", polygons=[corners])
    if el.tag == "mask":
        left, top, mw, mh = (int(float(v)) for v in _floats(el, "left", "top", "width", "height"))
        local = decode_rle([int(v) for v in el.attrib["rle"].split(",")], mw, mh)
        full = np.zeros((h, w), dtype=bool)
        x1, y1 = min(left + mw, w), min(top + mh, h)
        if x1 > max(left, 0) and y1 > max(top, 0):
            full[max(top, 0) : y1, max(left, 0) : x1] = local[max(-top, 0) : y1 - top, max(-left, 0) : x1 - left]
        return Shape(label, MASK, name, mask=full)
    return Shape(label, el.tag, name)


def _image(el: ET.Element, root: Path, where: str) -> tuple[ImportedImage | None, list]:
    name = el.attrib.get("name", "")
    try:
        w, h = int(el.attrib["width"]), int(el.attrib["height"])
    except (KeyError, ValueError):
        return None, [skip(f"{where}: image '{name}'", "has no integer width and height; not imported",
                           "unreadable-file")]  # fmt: skip
    path = next((p for p in (root / "images" / name, root / name) if p.is_file()), None)
    if path is None:
        return None, [skip(f"{where}: image '{name}'", f"not found in {root / 'images'} or {root}; not imported",
                           "unreadable-image")]  # fmt: skip
    size = checked_size(path, f"{where}: image '{name}'", (w, h))
    if not isinstance(size, tuple):
        return None, [size]
    shapes, problems = [], []
    for i, child in enumerate(c for c in el if c.tag in SHAPE_TAGS):
        try:
            shapes.append(_shape(child, i, w, h))
        except (KeyError, ValueError) as e:
            problems.append(skip(f"{where}: image '{name}': {child.tag} {i}", f"unreadable ({e}); not imported",
                                 "unreadable-shape"))  # fmt: skip
    return ImportedImage(path.relative_to(root).as_posix(), w, h, f"{where}: image '{name}'", shapes), problems


def read(src: Path) -> Imported:
    xml = src / "annotations.xml" if src.is_dir() else src
    root = xml.parent.resolve()
    try:
        tree = ET.parse(xml)
    except (OSError, ET.ParseError) as e:
        return Imported(root, [], None, [skip(str(xml), f"not a readable CVAT XML ({e}); nothing imported",
                                              "unreadable-file")])  # fmt: skip
    labels = [n.text or "" for n in tree.getroot().iterfind("./meta//labels/label/name")]
    images, problems = [], []
    for el in tree.getroot().iterfind("image"):
        img, found = _image(el, root, str(xml))
        problems += found
        if img is not None:
            images.append(img)
    return Imported(root, images, labels or None, problems)
