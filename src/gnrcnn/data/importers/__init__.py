"""``gnrcnn import-data``: a labelling tool's export -> a COCO instances file (or a seeded train/val pair).

Readers, one per tool: ``labelme.py``, ``cvat.py`` (CVAT for images 1.1 XML), ``yolo.py`` (ultralytics'
segmentation layout), ``voc.py`` (Pascal VOC), ``labelstudio.py`` (Label Studio's JSON export, its brush
masks decoded by ``ls_brush.py``). Each is our own code of well under 150 lines: the
formats are small, and the libraries that read them all (datumaro) would bring 23 packages, pandas,
pyarrow, scipy and shapely among them, and pin Pillow and OpenCV below the versions gnrcnn runs
(measured with ``pip install --dry-run datumaro``); supervision reads YOLO and VOC but not LabelMe or
CVAT. pycocotools, already a dependency, encodes polygons and masks, so areas and RLEs are exactly
what COCO's own tools compute.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import GnrcnnError
from ...fileio import write_json_atomic
from ...output_dir import claim
from ..check import decode_all
from ..problems import IMAGE_KINDS, Problem, count_text, images_left_out, summarize
from . import cvat, labelme, labelstudio, voc, yolo
from .common import Imported, to_coco
from .split import split_ids, subset

READERS = {"labelme": labelme.read, "cvat": cvat.read, "yolo": yolo.read, "voc": voc.read,
           "labelstudio": labelstudio.read}  # fmt: skip
OUT_FILES = ("annotations.json", "train.json", "val.json")  # what an import writes in --out


def detect_format(src: Path) -> str:
    """The tool that made ``src``, told by its layout."""
    if src.is_file() and src.suffix.lower() == ".json":
        return "labelstudio"  # one JSON file (LabelMe's are a folder of them)
    if (src.is_file() and src.suffix.lower() == ".xml") or (src / "annotations.xml").is_file():
        return "cvat"
    if (src / "Annotations").is_dir():
        return "voc"
    if (src / "images").is_dir() and ((src / "labels").is_dir() or (src / "data.yaml").is_file()):
        return "yolo"
    if src.is_dir() and any(src.rglob("*.json")):
        return "labelme"
    raise GnrcnnError(f"{src}: cannot tell the format (no annotations.xml, Annotations/, images/ + labels/ or "
                      "LabelMe *.json); pass --format labelme|cvat|yolo|voc|labelstudio")  # fmt: skip


def rooted(imported: Imported) -> Imported:
    """``imported`` with its root the folder holding it and every image (LabelMe's ``ann/`` + ``images/``: their
    parent), and every file name relative to that root, as the report says they are (never absolute)."""
    # abspath, not resolve: an image that is a symlink keeps its place in the dataset's tree
    paths = [Path(os.path.abspath(imported.root / i.file_name)) for i in imported.images]
    root = Path(os.path.commonpath([os.path.abspath(imported.root), *(p.parent for p in paths)]))
    images = [dataclasses.replace(i, file_name=p.relative_to(root).as_posix()) for i, p in zip(imported.images, paths)]
    return dataclasses.replace(imported, root=root, images=images)


def decoded(imported: Imported) -> Imported:
    """``imported`` without the images that do not decode in full (a truncated JPEG has a whole header), one
    line each: every image is decoded once, in worker threads."""
    jobs = [(imported.root / i.file_name, str(imported.root / i.file_name), (i.width, i.height))
            for i in imported.images]  # fmt: skip
    found = decode_all(jobs, "not imported")
    keep = [img for img, problem in zip(imported.images, found, strict=True) if problem is None]
    return dataclasses.replace(imported, images=keep, problems=imported.problems + [p for p in found if p])


@dataclass
class ImportResult:
    fmt: str
    detected: bool  # the format was told by the layout, not given with --format
    root: Path  # the --data-root to train with
    files: dict[str, Path]  # "all" | "train" | "val" -> the COCO file written
    coco: dict[str, Any]
    problems: list[Problem]
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)


def import_dataset(src: str | Path, out: str | Path, fmt: str | None = None, split: float | None = None, seed: int = 0,
                   images: str | Path | None = None, overwrite: bool = False) -> ImportResult:  # fmt: skip
    """Read ``src`` (the format detected when ``fmt`` is None), write ``out/annotations.json`` or, with
    ``split``, ``out/train.json`` and ``out/val.json``. ``images``: the image folder of a Label Studio export.
    An ``out`` holding an earlier import's files is refused, or with ``overwrite`` cleared of them first, so
    no stale ``train.json`` is left beside a new ``annotations.json``."""
    src, out = Path(src), Path(out)
    if not src.exists():
        raise GnrcnnError(f"{src}: no such file or folder")
    detected = fmt is None
    fmt = fmt or detect_format(src)
    if split is not None and not 0 < split < 1:
        raise GnrcnnError(f"--split {split}: give the training fraction, between 0 and 1 (e.g. 0.8)")
    if images is not None and fmt != "labelstudio":
        raise GnrcnnError(f"--images is for --format labelstudio; {fmt} exports say where their images are")
    if images is not None and not Path(images).is_dir():
        raise GnrcnnError(f"--images {images}: no such folder")
    imported: Imported = (
        labelstudio.read(src, Path(images) if images else None) if fmt == "labelstudio" else READERS[fmt](src)
    )
    claim(out, OUT_FILES, resume=False, overwrite=overwrite, flag="--out", resumable=False)
    imported = decoded(rooted(imported))
    coco, shape_problems, counts = to_coco(imported)
    result = ImportResult(fmt, detected, imported.root, {}, coco, imported.problems + shape_problems, counts)
    if not coco["images"]:
        raise GnrcnnError(f"{src}: no image imported as {fmt}" + (f" ({summarize(result.problems)})"
                          if result.problems else " (is it the right --format?)"))  # fmt: skip
    if split is None:
        result.files["all"] = out / "annotations.json"
        result.parts["all"] = coco
    else:
        train, val, result.notes = split_ids(coco, split, seed)
        for part, ids in (("train", train), ("val", val)):
            result.files[part] = out / f"{part}.json"
            result.parts[part] = subset(coco, ids)
    for part, path in result.files.items():
        write_json_atomic(result.parts[part], path, "COCO annotations")
    return result


def report(result: ImportResult) -> str:
    """What was imported and what was not, one line per problem, then the counts and the next command."""
    how = "told by the layout; --format to choose" if result.detected else "--format"
    lines = [f"format: {result.fmt} ({how})"] + [str(p) for p in result.problems]
    lines += [f"note: {n}" for n in result.notes]
    cats = result.coco["categories"]
    lines.append(f"{len(cats)} categories (id name): " + ", ".join(f"{c['id']} {c['name']}" for c in cats))
    c, images = result.counts, result.coco["images"]
    empty = len(images) - len({a["image_id"] for a in result.coco["annotations"]})
    file_kinds = ("unreadable-file", "no-image", "not-labelled")
    files = [p for p in result.problems if p.kind in file_kinds]
    dropped = c["shapes"] - c["imported"]
    shape_problems = [p for p in result.problems if p.kind not in (*file_kinds, *IMAGE_KINDS, "no-names")]
    lines.append(
        f"imported {len(images)} images ({empty} without instances) and {c['imported']} of {c['shapes']} shapes"
        + (f" ({c['crowd']} difficult, kept as crowd regions)" if c["crowd"] else "")
        + f"; not imported: {dropped} shapes"
        + (f" ({summarize(shape_problems)})" if shape_problems else "")
        + f", {count_text(images_left_out(result.problems))} images"  # as check-data and train count them
        + f", {len(files)} other file(s)"
        + (f" ({summarize(files)})" if files else "")
    )
    for part, path in result.files.items():
        coco = result.parts[part]
        lines.append(f"wrote {path}: {len(coco['images'])} images, {len(coco['annotations'])} instances")
    ann = result.files.get("train", result.files.get("all"))
    val = f" --val-ann {result.files['val']}" if "val" in result.files else ""
    lines.append(f"the file names are relative to --data-root {result.root}")
    lines.append(f"next: gnrcnn check-data --data-root {result.root} --ann {ann}")
    lines.append(f"then: gnrcnn train --config CONFIG --data-root {result.root} --ann {ann}{val} --work-dir DIR")
    return "\n".join(lines)
