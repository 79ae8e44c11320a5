"""YOLO-seg pre-labels as ultralytics lays a dataset out: ``images/``, ``labels/<stem>.txt`` (a line per
object: ``class x1 y1 x2 y2 ...``, divided by the image's width and height), ``data.yaml`` (``names``).

A line holds one ring. An object of several parts has its parts joined into one ring the way
ultralytics' own converter does it (``merge_multi_segment``): each part is cut open at its point
nearest the next part, and the path goes there and back along a zero-width bridge, which covers no
pixel, so the joined ring rasterises as the parts do. Holes cannot be expressed: the outer ring
only. YOLO labels have no place for a score (ultralytics reads a sixth column only as a box's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from ..fileio import write_text_atomic
from .objects import ImageLabels
from .polygons import mask_to_polygons


def join_parts(rings: list[np.ndarray]) -> np.ndarray:
    """One ring through every ring of ``rings`` (in their order), each reached from the one before by a
    bridge between their nearest points and left by the same bridge back."""
    if len(rings) == 1:
        return rings[0]
    starts = [0] * len(rings)  # where the way in enters each ring
    ends = [0] * len(rings)  # where the way on to the next ring leaves it
    for i in range(len(rings) - 1):
        d = np.linalg.norm(rings[i][:, None] - rings[i + 1][None], axis=2)
        ends[i], starts[i + 1] = (int(v) for v in np.unravel_index(d.argmin(), d.shape))

    def walk(i: int) -> list[np.ndarray]:
        ring = np.roll(rings[i], -starts[i], 0)  # from the entry point, round the ring and back to it
        loop = np.concatenate([ring, ring[:1]])
        if i == len(rings) - 1:
            return [loop]
        k = (ends[i] - starts[i]) % len(ring)  # the exit point, along the way round
        return [loop[: k + 1], *walk(i + 1), loop[k:]]

    return np.concatenate(walk(0))


def lines(img: ImageLabels, class_index: dict[str, int], tolerance: float) -> list[str]:
    out = []
    for obj in img.objects:
        rings = mask_to_polygons(obj.mask, tolerance)
        if not rings:
            continue
        xy = join_parts(rings).astype(np.float64) / [img.width, img.height]
        out.append(f"{class_index[obj.label]} " + " ".join(f"{v:.6f}" for v in xy.clip(0, 1).reshape(-1)))
    return out


def write(images: list[ImageLabels], out: str | Path, class_names: list[str], *, tolerance: float) -> Path:
    """``out/labels/<stem>.txt`` for each image under ``out/images/`` and ``out/data.yaml``."""
    out = Path(out)
    index = {name: i for i, name in enumerate(class_names)}
    for img in images:
        text = "\n".join(lines(img, index, tolerance))
        write_text_atomic(text + "\n" if text else "", out / "labels" / Path(img.file_name).with_suffix(".txt").name)
    data = {"path": ".", "train": "images", "val": "images", "names": dict(enumerate(class_names))}
    write_text_atomic(yaml.safe_dump(data, sort_keys=False), out / "data.yaml")
    return out
