"""Our CVAT pre-labels against CVAT's own description of "CVAT for images 1.1", element by element.

No CVAT server runs here (it needs Docker), so this test holds ``annotations.xml`` to what CVAT documents
and what its importer reads, both read for this test (not copied):
- the documented layout (docs.cvat.ai, "XML annotation format", version 1.1): ``<annotations>`` whose
  first child is ``<version>1.1</version>``, then ``<meta><task>`` (name, size, mode, ``<labels>`` of
  ``<label>`` with ``<name>`` and ``<type>``), then one ``<image id name width height>`` per image, ``id``
  being the image's index in the lexical order of the names; shapes as children of their image;
- CVAT's task importer (``load_anno`` in ``cvat/apps/dataset_manager/formats/cvat.py``): it needs an
  image's ``id`` and ``name`` (the name is matched to the task's frames), a shape's ``label`` (which must
  name a label of the task, else the upload fails), a polygon's ``points`` ("x,y;x,y;..." of floats), a
  mask's ``rle`` (comma-separated integers) and ``left``, ``top``, ``width``, ``height`` read with
  ``int()`` (so "3.0" would fail); ``occluded`` ("0"/"1"), ``z_order`` (an integer) are optional; it
  does not read ``<version>`` or ``<meta>`` (CVAT's project-level dataset import, through Datumaro, does
  require ``<meta>``) and records every uploaded shape's source as "file", whatever ``source`` says.

How CVAT decodes a mask (its ``MaskConverter.cvat_rle_to_dm_rle``, in our words): the run lengths cover the
mask's own ``width`` x ``height`` box, row after row from its top-left pixel; runs alternate between
background and object, the first run being background (0 when the box's first pixel is object); the box
is then placed at (``left``, ``top``) in the image, and must lie inside it. CVAT computes this by reading
the runs as a COCO column-major RLE of the transposed box; ``_cvat_decoded`` below does the same with
pycocotools, a decoder independent of our importer's ``decode_rle``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from gnrcnn.data.importers import cvat as cvat_importer
from gnrcnn.labels.folder import LabelOptions, write_labels
from gnrcnn.labels.objects import ImageLabels, PreLabel

S = 96
YY, XX = np.mgrid[:S, :S]
DISC = (XX - 25) ** 2 + (YY - 25) ** 2 <= 144  # one part, no hole: a <polygon>
TWO_PARTS = ((XX - 70) ** 2 + (YY - 20) ** 2 <= 64) | ((XX > 60) & (XX < 90) & (YY > 40) & (YY < 50))  # a <mask>
RING = ((XX - 40) ** 2 + (YY - 70) ** 2 <= 400) & ~((XX - 40) ** 2 + (YY - 70) ** 2 <= 49)  # a <mask>
EDGE = (XX >= 88) & (YY >= 80)  # a hole-free part touching the image's corner, with a second part: a <mask>
EDGE_TWO = EDGE | ((XX < 4) & (YY < 4))
CLASSES = ["disc", "bar", "ring", "corner"]

# What CVAT's documentation and importer allow on each element we write (and which of them it requires).
SHAPE_COMMON = {"label", "source", "occluded", "z_order"}
ALLOWED = {"image": {"id", "name", "width", "height"}, "polygon": SHAPE_COMMON | {"points"},
           "mask": SHAPE_COMMON | {"rle", "left", "top", "width", "height"}}  # fmt: skip
REQUIRED = {"image": {"id", "name"}, "polygon": {"label", "points"}, "mask": {"label", "rle", "left", "top", "width",
                                                                             "height"}}  # fmt: skip
LABEL_TYPES = {"any", "bbox", "cuboid", "ellipse", "mask", "polygon", "polyline", "points", "skeleton", "tag"}
INTEGER = re.compile(r"-?\d+$")
# The documentation's own <mask> example (its 13 x 15 "car"): under the rule above it is one filled blob.
DOC_EXAMPLE = ([3, 5, 7, 7, 5, 9, 3, 11, 2, 11, 2, 12, 1, 12, 1, 26, 1, 12, 1, 12, 2, 11, 3, 9, 5, 7, 7, 5, 3], 13, 15)


def _cvat_decoded(runs: list[int], width: int, height: int) -> np.ndarray:
    """A ``height`` x ``width`` bool box as CVAT's server decodes ``runs`` (the module docstring's rule)."""
    rle = mask_utils.frPyObjects({"counts": runs, "size": [width, height]}, width, height)
    return mask_utils.decode(rle).T.astype(bool)


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, dict[str, list[PreLabel]]]:
    """``annotations.xml`` of three images given out of lexical order: their objects by image name."""
    objects = {"b.png": [PreLabel("disc", 0.9, DISC), PreLabel("bar", 0.7, TWO_PARTS), PreLabel("ring", 0.6, RING)],
               "c.png": [PreLabel("corner", 0.8, EDGE_TWO)], "a.png": []}  # fmt: skip
    items = []
    for name, objs in objects.items():
        path = tmp_path / "photos" / name
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), np.full((S, S, 3), 90, np.uint8))
        items.append((path, ImageLabels(str(path), S, S, objs)))
    write_labels(items, tmp_path / "cvat", CLASSES, LabelOptions("cvat", tolerance=0.5))
    return tmp_path / "cvat", objects


def test_the_document_is_laid_out_as_cvat_documents_it(written) -> None:
    folder, objects = written
    raw = (folder / "annotations.xml").read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>") or raw.startswith(b'<?xml version="1.0"')
    root = ET.fromstring(raw)
    assert root.tag == "annotations" and root[0].tag == "version" and root[0].text == "1.1"
    assert root[1].tag == "meta" and [c.tag for c in root[2:]] == ["image"] * len(objects)
    task = root.find("meta/task")
    assert task.findtext("name") and task.findtext("mode") == "annotation"
    assert int(task.findtext("size")) == len(objects)
    labels = task.findall("labels/label")
    assert [lab.findtext("name") for lab in labels] == CLASSES
    assert all(lab.findtext("type") in LABEL_TYPES for lab in labels)
    images = root.findall("image")
    assert [im.get("name") for im in images] == sorted(objects)  # id: the index in lexical order of the names
    assert [int(im.get("id")) for im in images] == list(range(len(objects)))
    for im in images:
        assert set(im.attrib) == ALLOWED["image"] and (folder / "images" / im.get("name")).is_file()
        assert (int(im.get("width")), int(im.get("height"))) == (S, S)
        assert [c.get("label") for c in im] == [o.label for o in objects[im.get("name")]]
        for shape in im:
            _check_shape(shape)


def _check_shape(shape: ET.Element) -> None:
    assert shape.tag in ("polygon", "mask"), shape.tag
    assert REQUIRED[shape.tag] <= set(shape.attrib) <= ALLOWED[shape.tag], shape.attrib
    assert shape.get("label") in CLASSES and shape.get("occluded") in ("0", "1")
    assert shape.get("source") in ("manual", "auto") and INTEGER.match(shape.get("z_order"))
    if shape.tag == "polygon":
        xy = np.array([[float(v) for v in p.split(",")] for p in shape.get("points").split(";")])
        assert xy.shape[0] >= 3 and xy.shape[1] == 2
        assert (xy >= 0).all() and (xy <= S).all()  # on the image (pixel edges: 0 to its size)
    else:
        assert all(INTEGER.match(shape.get(k)) for k in ("left", "top", "width", "height"))  # CVAT reads int()
        left, top, w, h = (int(shape.get(k)) for k in ("left", "top", "width", "height"))
        assert left >= 0 and top >= 0 and w > 0 and h > 0 and left + w <= S and top + h <= S
        runs = [int(v) for v in shape.get("rle").split(",")]  # "a, b, c", as CVAT's own export writes it
        assert min(runs) >= 0 and sum(runs) == w * h


def _full_masks(image: ET.Element) -> list[np.ndarray]:
    """Each ``<mask>`` of ``image`` decoded as CVAT decodes it, in the whole image."""
    out = []
    for shape in image.iterfind("mask"):
        left, top, w, h = (int(shape.get(k)) for k in ("left", "top", "width", "height"))
        full = np.zeros((S, S), bool)
        full[top : top + h, left : left + w] = _cvat_decoded([int(v) for v in shape.get("rle").split(",")], w, h)
        out.append(full)
    return out


def test_masks_decode_as_cvat_decodes_them_to_the_predicted_pixels(written, tmp_path: Path) -> None:
    folder, objects = written
    root = ET.parse(folder / "annotations.xml").getroot()
    want = {"b.png": [TWO_PARTS, RING], "c.png": [EDGE_TWO], "a.png": []}  # the objects written as <mask>
    for im in root.iterfind("image"):
        got = _full_masks(im)
        assert len(got) == len(want[im.get("name")])
        assert all(np.array_equal(g, w) for g, w in zip(got, want[im.get("name")])), im.get("name")
    # our own importer reads the same file back to the same masks
    imported = {Path(i.file_name).name: i for i in cvat_importer.read(folder).images}
    for name, objs in objects.items():
        shapes = imported[name].shapes
        assert [s.label for s in shapes] == [o.label for o in objs]
        masks = [s.mask for s in shapes if s.mask is not None]
        assert all(np.array_equal(m, w) for m, w in zip(masks, want[name]))


def test_the_documented_example_mask_reads_as_one_blob() -> None:
    """The rule above, checked on CVAT's own example: every row of the box holds one unbroken run of the
    object, widest in the middle (read column by column instead, the same runs give ragged noise); our
    importer's decoder agrees."""
    runs, w, h = DOC_EXAMPLE
    box = _cvat_decoded(runs, w, h)
    assert box.sum() == sum(runs[1::2]) and box.shape == (h, w)
    for row in box:
        assert np.count_nonzero(np.diff(np.concatenate([[0], row.astype(int), [0]]))) == 2  # one run per row
    assert box.sum(1).argmax() in range(h // 2 - 2, h // 2 + 3)
    assert np.array_equal(cvat_importer.decode_rle(runs, w, h), box)
    assert cvat_importer.encode_rle(box) == runs  # and our encoder writes CVAT's runs back
