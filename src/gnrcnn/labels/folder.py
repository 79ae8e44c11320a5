"""``gnrcnn predict --labels FORMAT``: the predictions of a folder of images written as pre-labels that the
labelling tool imports as editable annotations, in a folder of their own beside the predictions.

Each image is placed in that folder where its tool looks for it (a hard link where the file system
allows, else a copy): beside its JSON for LabelMe, under ``images/`` for the others. The detections
come from ``predictions.jsonl`` (each image's file, size and COCO records), the ones scoring at least
``score_thr`` become pre-labels; class names are the model's.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import GnrcnnError
from ..fileio import read_json_lines
from ..predict.images import unique_names
from . import coco, cvat, labelme, labelstudio, yolo
from .objects import ImageLabels, from_records

FORMATS = ("labelme", "cvat", "labelstudio", "yolo", "coco")
WRITERS: dict[str, Callable[..., Path]] = {"labelme": labelme.write, "cvat": cvat.write, "yolo": yolo.write,
                                           "coco": coco.write}  # fmt: skip
WHAT_TO_IMPORT = {
    "labelme": "open the folder in labelme (File -> Open Dir)",
    "cvat": "create a task with the images in images/ and labels named as the model's classes (annotations.xml's "
    "<meta>), then Actions -> Upload annotations -> CVAT 1.1: annotations.xml",
    "labelstudio": "serve the folder as local files (LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true, "
    "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<folder>), create the project with label_config.xml, import tasks.json",
    "yolo": "data.yaml (ultralytics layout: images/, labels/)",
    "coco": "annotations.json with the images in images/",
}


@dataclass(frozen=True)
class LabelOptions:
    fmt: str
    tolerance: float = 0.5  # px: how far approxPolyDP may move a polygon's outline
    score_thr: float = 0.5  # detections scoring at least this become pre-labels
    model_version: str = "gnrcnn"  # Label Studio's prediction model_version


def _place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:  # another file system, or links not allowed: a copy
        shutil.copy2(src, dest)


def read_predictions(jsonl: Path, names: dict[int, str], score_thr: float) -> list[tuple[Path, ImageLabels]]:
    """Each image of ``predict``'s JSON lines (the last line of an image counts) with its pre-labels."""
    if not jsonl.is_file():
        raise GnrcnnError(f"{jsonl}: no predictions to write as labels (run gnrcnn predict first)")
    lines = {line["file_name"]: line for line in read_json_lines(jsonl)}
    return [(Path(f), ImageLabels(f, line["width"], line["height"], from_records(line["detections"], names,
                                                                                  score_thr)))
            for f, line in lines.items()]  # fmt: skip


def write_labels(items: list[tuple[Path, ImageLabels]], out: str | Path, class_names: list[str],
                 opts: LabelOptions) -> Path:  # fmt: skip
    """The images and their pre-labels in ``opts.fmt``'s layout under ``out``; returns the file to import."""
    if opts.fmt not in FORMATS:
        raise GnrcnnError(f"--labels {opts.fmt}: choose one of {', '.join(FORMATS)}")
    out = Path(out)
    stems = unique_names([path for path, _ in items], "")
    placed = []
    for path, img in items:
        name = stems[str(path)] + path.suffix
        name = name if opts.fmt == "labelme" else f"images/{name}"
        _place(path, out / name)
        placed.append(ImageLabels(name, img.width, img.height, img.objects))
    if opts.fmt == "labelstudio":
        return labelstudio.write(placed, out, class_names, tolerance=opts.tolerance, model_version=opts.model_version)
    return WRITERS[opts.fmt](placed, out, class_names, tolerance=opts.tolerance)
