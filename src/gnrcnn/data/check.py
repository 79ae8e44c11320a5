"""``gnrcnn check-data``: every problem of a dataset, one line each, before any training starts.

The same checks as training's start-up (JSON structure, ids, categories, boxes, polygons, RLE,
image headers), plus a full decode of every image, which start-up skips for speed: a header can be whole
while the pixels after it are cut off (``head -c 3000 photo.jpg``), and such a file is found here rather
than as a line during an epoch. ``import-data`` decodes each image once with the same ``decode_all``
(worker threads: Pillow releases the GIL while it decodes). The images left out are counted as
``import-data`` and ``train``'s ``data:`` line count them (``problems.images_left_out``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..progress import progress
from .coco import CocoDataset
from .image_io import _DECODABLE, undecodable
from .problems import ERROR, SKIP, Problem, count_text, images_left_out, summarize


def _why(path: Path, fmt: str = "") -> str:
    """Why ``path`` is not a decodable image, told from its first bytes (never a library's message)."""
    try:
        with open(path, "rb") as f:
            return undecodable(f.read(16), fmt)
    except OSError:
        return f"image {path} is not found"


def decode_problem(path: Path, where: str, size: tuple[int, int] | None, action: str) -> Problem | None:
    """None if ``path`` decodes in full (to ``size``, width x height after EXIF rotation, when given), else the
    one line saying why not; ``action`` ends it ("image dropped", "not imported")."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            fmt = im.format or ""
            im.load()  # the whole file: Pillow refuses truncated data, which some decoders fill with grey
            w, h = ImageOps.exif_transpose(im).size if fmt in ("JPEG", "MPO", "TIFF", "WEBP", "PNG") else im.size
    except (OSError, SyntaxError, ValueError):
        return Problem(SKIP, where, f"{_why(path)}; {action}", "undecodable-image")
    if fmt not in _DECODABLE:
        return Problem(SKIP, where, f"{_why(path, fmt)}; {action}", "undecodable-image")
    if size is not None and (w, h) != tuple(size):
        return Problem(SKIP, where, f"decodes to {w}x{h} but the annotations say {size[0]}x{size[1]}; {action}",
                       "size-mismatch")  # fmt: skip
    return None


def decode_all(jobs: Sequence[tuple[Path, str, tuple[int, int] | None]], action: str) -> list[Problem | None]:
    """``decode_problem`` of every (path, where, size), in worker threads, in order; a progress bar past 50."""

    def one(job: tuple[Path, str, tuple[int, int] | None]) -> Problem | None:
        return decode_problem(*job, action)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(progress(pool.map(one, jobs), total=len(jobs), desc="decode", unit="img",
                             disable=len(jobs) < 50, file=sys.stderr, leave=False))  # fmt: skip


def check_dataset(
    ann: str | Path, root: str | Path, decode: bool = True, keep_empty: bool = False
) -> tuple[CocoDataset, list[Problem], int, int]:
    """The dataset as training reads it, all its problems (errors first), and the images and instances that
    are left once the images that do not decode are dropped."""
    dataset = CocoDataset(ann, root, train=True, keep_empty=keep_empty, progress=True)
    problems = list(dataset.problems)
    images, instances = len(dataset), dataset.num_instances
    if decode:
        records = dataset.records
        jobs = [(rec.path, f"{rec.path} (image {rec.image_id})", (rec.width, rec.height)) for rec in records]
        found = decode_all(jobs, "image dropped")
        for rec, problem in zip(records, found, strict=True):
            if problem is not None:
                problems.append(problem)
                images, instances = images - 1, instances - len(rec.labels)
    problems.sort(key=lambda p: p.severity != ERROR)
    return dataset, problems, images, instances


def _unusable(images: int, instances: int, ann: str | Path) -> list[Problem]:
    """What stops training although no single entry is wrong: nothing to train on."""
    if not images:
        return [Problem(ERROR, str(ann), "0 usable images", "no-training-image")]
    if not instances:
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
    dataset, problems, images, instances = check_dataset(ann, root, decode, keep_empty)
    problems = _unusable(images, instances, ann) + problems
    lines = [str(p) for p in problems] + _empty_line(dataset, keep_empty)
    errors = [p for p in problems if p.severity == ERROR]
    skips = [p for p in problems if p.severity != ERROR]
    left = images_left_out(problems, dataset.left_out)
    verdict = "training would stop" if errors else ("training would skip them" if skips else "no problem found")
    lines.append(
        f"{ann}: {images} usable images, {instances} instances; left out: {count_text(left)} images; "
        f"{len(errors)} error(s)"
        + (f" ({summarize(errors)})" if errors else "")
        + f", {len(skips)} skipped"
        + (f" ({summarize(skips)})" if skips else "")
        + f": {verdict}"
    )
    return "\n".join(lines), 1 if problems else 0
