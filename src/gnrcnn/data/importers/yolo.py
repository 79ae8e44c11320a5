"""A YOLO segmentation folder as ultralytics lays it out: ``data.yaml``, ``images/...``, ``labels/...``.

``labels/<same path>.txt`` beside each ``images/<path>`` (ultralytics' rule: the last ``images`` folder
of the path becomes ``labels``, the suffix ``.txt``) holds one instance per line: ``class x1 y1 x2 y2
...``, coordinates divided by the image's width and height. A line of exactly five numbers is a box
(``class cx cy w h``), as ultralytics reads it. ``data.yaml``'s ``names`` (a list or {index: name})
are the labels in index order; without a YAML, ``classes.txt`` (one name a line, as labelImg and
Label Studio's YOLO export write it: in the dataset's folder or beside the label files); without either,
classes are named by their index, with a warning. An image without a label file is a negative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from ..image_io import IMAGE_SUFFIXES
from ..problems import WARNING, Problem
from .common import BOX, POLYGON, Imported, ImportedImage, Shape, checked_size, skip

CLASSES_TXT = "classes.txt"


def _classes_txt(src: Path) -> tuple[list[str] | None, list]:
    """The names in ``classes.txt`` (the dataset's folder, ``labels/``, else beside the label files)."""
    places = [src / CLASSES_TXT, src / "labels" / CLASSES_TXT, *sorted((src / "labels").rglob(CLASSES_TXT))]
    found = next((p for p in places if p.is_file()), None)
    if found is None:
        return None, [Problem(WARNING, str(src), f"no data.yaml nor {CLASSES_TXT} with the class names: classes "
                              "are named by their index (0, 1, ...)", "no-names")]  # fmt: skip
    try:
        names = [line.strip() for line in found.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        return None, [skip(str(found), f"not readable ({type(e).__name__}); classes are named by their index",
                           "unreadable-file")]  # fmt: skip
    return names, []


def class_names(src: Path) -> tuple[list[str] | None, list]:
    """``names`` of the dataset's YAML (``data.yaml``, else the one ``*.yaml`` there), else ``classes.txt``."""
    found = [src / "data.yaml"] if (src / "data.yaml").is_file() else sorted(src.glob("*.yaml"))
    if not found:
        return _classes_txt(src)
    try:
        names = (yaml.safe_load(found[0].read_text(encoding="utf-8")) or {}).get("names")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError) as e:
        return None, [skip(str(found[0]), f"not a readable YAML ({type(e).__name__}); classes are named by their "
                           "index", "unreadable-file")]  # fmt: skip
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list):
        return None, [skip(str(found[0]), "has no 'names' list; classes are named by their index", "no-names")]
    return [str(n) for n in names], []


def label_path(image: Path) -> Path:
    parts = list(image.parts)
    i = len(parts) - 1 - parts[::-1].index("images") if "images" in parts else None
    if i is not None:
        parts[i] = "labels"
    return Path(*parts).with_suffix(".txt")


def _shape(line: str, index: int, names: list[str] | None, w: int, h: int) -> Shape:
    values = line.split()
    cls = values[0]
    label = names[int(cls)] if names is not None and cls.isdigit() and int(cls) < len(names) else cls
    name = f"line {index + 1} (class {cls}, '{label}')"
    xy = np.asarray(values[1:], dtype=np.float64)
    if len(xy) == 4:
        cx, cy, bw, bh = xy * [w, h, w, h]
        return Shape(label, BOX, name, box=(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2))
    if len(xy) % 2:
        raise ValueError(f"{len(xy)} coordinates, not x, y pairs")
    return Shape(label, POLYGON, name, polygons=[xy.reshape(-1, 2) * [w, h]])


def _image(path: Path, src: Path, names: list[str] | None) -> tuple[ImportedImage | None, list]:
    size = checked_size(path, str(path))
    if not isinstance(size, tuple):
        return None, [size]
    w, h = size
    txt = label_path(path)
    img = ImportedImage(path.relative_to(src).as_posix(), w, h, str(txt))
    if not txt.is_file():
        return img, []
    try:
        lines = txt.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        return None, [skip(str(txt), f"not readable ({type(e).__name__}); image not imported", "unreadable-file")]
    problems = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            img.shapes.append(_shape(line, i, names, w, h))
        except ValueError as e:
            problems.append(skip(f"{txt}: line {i + 1}", f"not 'class x y x y ...' ({e}); not imported",
                                 "unreadable-shape"))  # fmt: skip
    return img, problems


def read(src: Path) -> Imported:
    src = src.resolve()
    names, problems = class_names(src)
    images = []
    files = sorted(p for p in (src / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    for path in files:
        img, found = _image(path, src, names)
        problems += found
        if img is not None:
            images.append(img)
    used = {label_path(p) for p in files}
    orphans = [t for t in sorted((src / "labels").rglob("*.txt")) if t not in used and t.name != CLASSES_TXT]
    problems += [skip(str(t), "has no image of the same name under images/; not imported", "no-image")
                 for t in orphans]  # fmt: skip
    return Imported(src, images, names, problems)
