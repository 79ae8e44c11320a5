"""CVAT pre-labels: "CVAT for images 1.1" XML (``annotations.xml``, with the images under ``images/``),
as CVAT's own dumper writes it and its importer (Actions -> Upload annotations) reads it.

An object of one part without holes is a ``<polygon>``; an object with a hole or of several parts is
a ``<mask>`` (CVAT's run lengths over the mask's box, row by row, from a run of background: the
encoder beside the reader, ``data/importers/cvat.py``). Every shape is marked ``source="auto"``, as
CVAT's own export marks a model's annotations (CVAT's importer records uploaded shapes as "file"
whatever it says). The format has no place for a score: a per-shape attribute would have to be
declared on the task's labels first, so scores are left out. The images are listed in the lexical
order of their names, ``id`` counting from 0, as the format documents. CVAT's task importer needs each
shape's label to be a label of the task: create the task with the model's class names (``<meta>``'s).
``tests/labels/test_cvat_layout.py`` checks the file against the documented layout and CVAT's importer.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..data.importers.cvat import encode_rle
from ..fileio import write_bytes_atomic
from .objects import ImageLabels, PreLabel
from .polygons import has_holes, mask_to_polygons

SHAPE = {"source": "auto", "occluded": "0", "z_order": "0"}


def _meta(root: ET.Element, class_names: list[str], count: int) -> None:
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "name").text = "gnrcnn pre-labels"
    ET.SubElement(task, "size").text = str(count)
    ET.SubElement(task, "mode").text = "annotation"
    labels = ET.SubElement(task, "labels")
    for name in class_names:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "type").text = "any"
        ET.SubElement(label, "attributes")


def shape(parent: ET.Element, obj: PreLabel, tolerance: float) -> None:
    rings = mask_to_polygons(obj.mask, tolerance)
    if len(rings) == 1 and not has_holes(obj.mask):
        points = ";".join(f"{x:.2f},{y:.2f}" for x, y in rings[0].astype(float))
        ET.SubElement(parent, "polygon", label=obj.label, points=points, **SHAPE)
    elif rings:
        ys, xs = np.nonzero(obj.mask)
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        rle = ", ".join(str(v) for v in encode_rle(obj.mask[y0:y1, x0:x1]))
        ET.SubElement(parent, "mask", label=obj.label, rle=rle, left=str(x0), top=str(y0), width=str(x1 - x0),
                      height=str(y1 - y0), **SHAPE)  # fmt: skip


def write(images: list[ImageLabels], out: str | Path, class_names: list[str], *, tolerance: float) -> Path:
    """``out/annotations.xml`` for the images under ``out/images/``."""
    out = Path(out)
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    _meta(root, class_names, len(images))
    # CVAT numbers a task's images in the lexical order of their names (its default sorting): the ids it
    # falls back on where a name does not match a frame
    for i, img in enumerate(sorted(images, key=lambda im: Path(im.file_name).name)):
        el = ET.SubElement(root, "image", id=str(i), name=Path(img.file_name).name, width=str(img.width),
                           height=str(img.height))  # fmt: skip
        for obj in img.objects:
            shape(el, obj, tolerance)
    ET.indent(root)
    write_bytes_atomic(ET.tostring(root, encoding="utf-8", xml_declaration=True), out / "annotations.xml")
    return out / "annotations.xml"
