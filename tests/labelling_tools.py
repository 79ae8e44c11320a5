"""Small datasets written the way LabelMe, CVAT, ultralytics (YOLO-seg) and Pascal VOC tools write them.

Each image is 128 x 128 with a filled circle and a filled square drawn where the annotations say; each
dataset also carries the mistakes real exports carry (a shape off the image, a two-point polygon, a
label nobody declared, a file that is not an image), so the import must report them, one line each.
Layouts and fields follow the tools' own writers: labelme 5's ``LabelFile.save`` (``version``, ``flags``,
``shapes`` with ``shape_type``/``group_id``/``description``/``mask``, ``imagePath`` relative to the JSON,
base64 ``imageData``); CVAT's "CVAT for images 1.1" dumper (``points="x,y;x,y"`` with two decimals,
``<mask rle="a, b, c" left top width height>``: runs over the mask's box starting with background);
ultralytics' ``images/<split>`` + ``labels/<split>`` with normalised ``class x y ...`` lines and
``data.yaml`` ``names``; VOC's ``Annotations``, ``JPEGImages`` and palette ``SegmentationObject`` PNGs.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 128
CLASSES = ["circle", "square"]
N_IMAGES = 8


def _scene(i: int) -> tuple[Image.Image, tuple[float, float, float], tuple[int, int, int, int]]:
    """An image with a circle (cx, cy, r) and a square (x0, y0, x1, y1 inclusive pixels)."""
    rng = np.random.default_rng(i)
    img = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in rng.integers(0, 60, 3)))
    d = ImageDraw.Draw(img)
    cx, cy, r = float(rng.integers(25, 40)), float(rng.integers(25, 100)), float(rng.integers(12, 20))
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(230, 60, 60))
    x0, y0 = int(rng.integers(70, 90)), int(rng.integers(10, 70))
    s = int(rng.integers(18, 30))
    d.rectangle([x0, y0, x0 + s, y0 + s], fill=(60, 200, 90))
    return img, (cx, cy, r), (x0, y0, x0 + s, y0 + s)


def _circle_points(cx: float, cy: float, r: float, n: int = 24) -> list[list[float]]:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return [[round(cx + r * math.cos(a), 2), round(cy + r * math.sin(a), 2)] for a in t]


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def labelme(root: Path) -> Path:
    """images/ and one JSON per image beside it (labelme's default: the JSON next to the image)."""
    root.mkdir(parents=True)
    for i in range(N_IMAGES):
        img, (cx, cy, r), (x0, y0, x1, y1) = _scene(i)
        data = _png(img)
        (root / f"img_{i}.png").write_bytes(data)
        circle = {"label": "circle", "points": [[cx, cy], [cx + r, cy]], "shape_type": "circle"}
        square = {"label": "square", "points": [[x0, y0], [x1 + 1, y1 + 1]], "shape_type": "rectangle"}
        if i % 2:  # the other way of drawing them
            circle = {"label": "circle", "points": _circle_points(cx, cy, r), "shape_type": "polygon"}
        shapes = [circle, square]
        if i == 1:
            shapes.append({"label": "square", "points": [[10, 10], [40, 40]], "shape_type": "polygon"})  # 2 points
        if i == 2:
            shapes.append({"label": "circle", "points": [[200, 200], [220, 200], [210, 230]],
                           "shape_type": "polygon"})  # fmt: skip
        if i == 3:
            shapes.append({"label": "tail", "points": [[5, 5], [20, 30]], "shape_type": "line"})
        shapes = [{**s, "group_id": None, "description": "", "flags": {}, "mask": None} for s in shapes]
        doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": f"img_{i}.png",
               "imageData": base64.b64encode(data).decode(), "imageHeight": SIZE, "imageWidth": SIZE}  # fmt: skip
        (root / f"img_{i}.json").write_text(json.dumps(doc, indent=2))
    (root / "broken.json").write_text('{"shapes": [')  # a save cut short
    (root / "embedded.json").write_text(
        json.dumps(
            {
                "version": "5.5.0",
                "flags": {},
                "shapes": [],
                "imagePath": None,
                "imageData": "",
                "imageHeight": SIZE,
                "imageWidth": SIZE,
            }
        )
    )
    return root


def cvat_rle(mask: np.ndarray) -> tuple[str, int, int, int, int]:
    """CVAT's mask encoding: runs over the mask's tight box, row by row, the first run background."""
    ys, xs = np.nonzero(mask)
    top, left, bottom, right = ys.min(), xs.min(), ys.max(), xs.max()
    flat = mask[top : bottom + 1, left : right + 1].reshape(-1).astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat[0]:
        runs = [0, *runs]
    return ", ".join(map(str, runs)), int(left), int(top), int(right - left + 1), int(bottom - top + 1)


def cvat(root: Path) -> Path:
    """An unpacked "CVAT for images 1.1" export: annotations.xml and images/."""
    (root / "images").mkdir(parents=True)
    labels = "".join(f"<label><name>{c}</name><color>#ff0000</color><type>any</type><attributes></attributes>"
                     "</label>" for c in CLASSES)  # fmt: skip
    task = (f"<id>7</id><name>shapes</name><size>{N_IMAGES}</size><mode>annotation</mode><overlap>0</overlap>"
            f"<labels>{labels}</labels>")  # fmt: skip
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n  <meta>\n    <task>'
             f"{task}</task>\n    <dumped>2024-05-01 10:00:00.000000+00:00</dumped>\n  </meta>"]  # fmt: skip
    for i in range(N_IMAGES):
        img, (cx, cy, r), (x0, y0, x1, y1) = _scene(i)
        img.save(root / "images" / f"frame_{i:06d}.png")
        pts = ";".join(f"{x:.2f},{y:.2f}" for x, y in _circle_points(cx, cy, r))
        shapes = [f'<polygon label="circle" source="manual" occluded="0" points="{pts}" z_order="0"></polygon>']
        if i % 2:
            m = np.zeros((SIZE, SIZE), bool)
            m[y0 : y1 + 1, x0 : x1 + 1] = True
            rle, left, top, w, h = cvat_rle(m)
            shapes.append(f'<mask label="square" source="manual" occluded="0" rle="{rle}" left="{left}" top="{top}" '
                          f'width="{w}" height="{h}" z_order="0"></mask>')  # fmt: skip
        else:
            shapes.append(f'<box label="square" source="manual" occluded="0" xtl="{x0:.2f}" ytl="{y0:.2f}" '
                          f'xbr="{x1 + 1:.2f}" ybr="{y1 + 1:.2f}" z_order="0"></box>')  # fmt: skip
        if i == 2:
            shapes.append('<box label="square" source="manual" occluded="0" xtl="300.00" ytl="10.00" xbr="340.00" '
                          'ybr="40.00" z_order="0"></box>')  # fmt: skip
        if i == 3:
            shapes.append('<polygon label="triangle" source="manual" occluded="0" points="5.00,5.00;20.00,5.00;'
                          '12.00,20.00" z_order="0"></polygon>')  # fmt: skip
        parts.append(f'  <image id="{i}" name="frame_{i:06d}.png" width="{SIZE}" height="{SIZE}">'
                     + "".join(shapes) + "</image>")  # fmt: skip
    (root / "images" / "frame_000099.png").write_bytes(b"not a png at all")
    parts.append(f'  <image id="99" name="frame_000099.png" width="{SIZE}" height="{SIZE}"></image>')
    parts.append("</annotations>\n")
    (root / "annotations.xml").write_text("\n".join(parts))
    return root


def yolo(root: Path) -> Path:
    """ultralytics' layout: data.yaml, images/{train,val}, labels/{train,val}, normalised polygons."""
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames:\n  0: circle\n  1: square\n")
    for i in range(N_IMAGES):
        split = "val" if i >= 6 else "train"
        img, (cx, cy, r), (x0, y0, x1, y1) = _scene(i)
        img.save(root / "images" / split / f"{i:04d}.jpg", quality=95)
        circle = " ".join(f"{x / SIZE:.6f} {y / SIZE:.6f}" for x, y in _circle_points(cx, cy, r))
        lines = [f"0 {circle}"]
        sq = [(x0, y0), (x1 + 1, y0), (x1 + 1, y1 + 1), (x0, y1 + 1)]
        lines.append("1 " + " ".join(f"{x / SIZE:.6f} {y / SIZE:.6f}" for x, y in sq))
        if i == 1:
            lines.append("1 0.100000 0.100000 0.300000 0.100000 0.500000 0.100000")  # three points on a line
        if i == 2:
            lines.append("5 0.1 0.1 0.2 0.1 0.2 0.2")  # class 5 of 2
        if i != 7:  # image 7 has no label file: a negative
            (root / "labels" / split / f"{i:04d}.txt").write_text("\n".join(lines) + "\n")
    (root / "images" / "train" / "9999.jpg").write_bytes(b"\xff\xd8 truncated")
    (root / "labels" / "train" / "0042.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.2\n")  # its image was deleted
    return root


def voc(root: Path) -> Path:
    """VOC2012's layout: Annotations/, JPEGImages/, SegmentationObject/ (for some images, as in VOC)."""
    for d in ("Annotations", "JPEGImages", "SegmentationObject"):
        (root / d).mkdir(parents=True)
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0, *([0] * (3 * 252)), 224, 224, 192]
    for i in range(N_IMAGES):
        stem = f"2007_{i:06d}"
        img, (cx, cy, r), (x0, y0, x1, y1) = _scene(i)
        img.save(root / "JPEGImages" / f"{stem}.jpg", quality=95)
        objects = [("circle", (cx - r, cy - r, cx + r, cy + r), 0), ("square", (x0, y0, x1, y1), 0)]
        if i == 2:
            objects.append(("square", (60, 60, 58, 90), 0))  # xmax before xmin
        if i == 4:
            objects.append(("circle", (5, 5, 20, 20), 1))  # difficult
        if i == 5:
            objects.append(("square", (150, 10, 170, 30), 0))  # off the image
        xml = [f"<annotation><folder>VOC2012</folder><filename>{stem}.jpg</filename><source><database>The VOC2007 "
               f"Database</database></source><size><width>{SIZE}</width><height>{SIZE}</height><depth>3</depth>"
               "</size><segmented>" + ("1" if i < 4 else "0") + "</segmented>"]  # fmt: skip
        for name, (a, b, c, d), difficult in objects:
            xml.append(f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>"
                       f"{difficult}</difficult><bndbox><xmin>{int(a) + 1}</xmin><ymin>{int(b) + 1}</ymin>"
                       f"<xmax>{int(c) + 1}</xmax><ymax>{int(d) + 1}</ymax></bndbox></object>")  # fmt: skip
        (root / "Annotations" / f"{stem}.xml").write_text("\n".join([*xml, "</annotation>"]))
        if i < 4:  # instance masks: pixel k = the k-th object, 255 its border
            seg = Image.new("P", (SIZE, SIZE), 0)
            seg.putpalette(palette)
            d = ImageDraw.Draw(seg)
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1, outline=255)
            d.rectangle([x0, y0, x1, y1], fill=2, outline=255)
            seg.save(root / "SegmentationObject" / f"{stem}.png")
    (root / "Annotations" / "2007_000099.xml").write_text("<annotation><filename>2007_000099.jpg</filename>")
    return root


WRITERS = {"labelme": labelme, "cvat": cvat, "yolo": yolo, "voc": voc}
