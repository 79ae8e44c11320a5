"""``gnrcnn check-data``: every problem of a dataset, one line each, before any training starts.

The same checks as training's start-up (JSON structure, ids, categories, boxes, polygons, RLE,
image headers), plus a full decode of every image, which start-up skips for speed: a truncated
JPEG is found here rather than as a warning during an epoch.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import GnrcnnError
from ..progress import progress
from .coco import CocoDataset
from .image_io import read_image, undecodable
from .problems import ERROR, SKIP, Problem, summarize
from .records import ImageRecord


def _decode(rec: ImageRecord) -> Problem | None:
    from PIL import Image

    name = f"{rec.path} (image {rec.image_id})"
    try:
        with Image.open(rec.path) as im:
            im.load()  # Pillow refuses truncated files, which some decoders fill with grey silently
        img = read_image(rec.path)
    except GnrcnnError as e:
        return Problem(SKIP, name, f"{str(e).split(': ', 1)[-1]}; image dropped", "undecodable-image")
    except (OSError, SyntaxError, ValueError):
        with open(rec.path, "rb") as f:
            head = f.read(16)
        return Problem(SKIP, name, f"{undecodable(head)}; image dropped", "undecodable-image")
    if img.shape[:2] != (rec.height, rec.width):
        return Problem(SKIP, name, f"decodes to {img.shape[1]}x{img.shape[0]} but the JSON says "
                       f"{rec.width}x{rec.height}; image dropped", "size-mismatch")  # fmt: skip
    return None


def check_dataset(
    ann: str | Path, root: str | Path, decode: bool = True, keep_empty: bool = False
) -> tuple[CocoDataset, list[Problem]]:
    """The dataset as training reads it and all its problems (errors first)."""
    dataset = CocoDataset(ann, root, train=True, keep_empty=keep_empty, progress=True)
    problems = list(dataset.problems)
    if decode:
        records = dataset.records
        with ThreadPoolExecutor(max_workers=4) as pool:
            found = list(progress(pool.map(_decode, records), total=len(records), desc="decode", unit="img",
                              disable=len(records) < 50, file=sys.stderr, leave=False))  # fmt: skip
        problems += [p for p in found if p is not None]
    problems.sort(key=lambda p: p.severity != ERROR)
    return dataset, problems


def _unusable(dataset: CocoDataset, ann: str | Path) -> list[Problem]:
    """What stops training although no single entry is wrong: nothing to train on."""
    if not dataset.records:
        return [Problem(ERROR, str(ann), "0 usable training images", "no-training-image")]
    if not dataset.num_instances:
        return [Problem(ERROR, str(ann), "no annotated instance (negatives alone teach nothing)", "no-instance")]
    return []


def _empty_line(dataset: CocoDataset, keep_empty: bool) -> list[str]:
    n = dataset.num_empty
    if not n:
        return []
    use = "used as negatives (--keep-empty)" if keep_empty else "left out (--keep-empty trains on them as negatives)"
    return [f"{n} image(s) without annotations: {use}"]


def report(ann: str | Path, root: str | Path, decode: bool = True, keep_empty: bool = False) -> tuple[str, int]:
    """(text to print, exit code: 1 if any problem, including nothing to train on)."""
    dataset, problems = check_dataset(ann, root, decode, keep_empty)
    problems = _unusable(dataset, ann) + problems
    lines = [str(p) for p in problems] + _empty_line(dataset, keep_empty)
    errors = [p for p in problems if p.severity == ERROR]
    skips = [p for p in problems if p.severity != ERROR]
    n_ann = dataset.num_instances
    verdict = "training would stop" if errors else ("training would skip them" if skips else "no problem found")
    lines.append(
        f"{ann}: {len(dataset)} usable training images, {n_ann} instances; {len(errors)} error(s)"
        + (f" ({summarize(errors)})" if errors else "")
        + f", {len(skips)} skipped"
        + (f" ({summarize(skips)})" if skips else "")
        + f": {verdict}"
    )
    return "\n".join(lines), 1 if problems else 0
