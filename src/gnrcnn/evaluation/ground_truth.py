"""A validation set's ground truth, read once and lent to every evaluation of a run, and results matched
to its images.

``GroundTruth`` holds the dataset (its records, checked: what the model predicts on) and, made on first
use, the evaluator's own COCO index (what COCOeval scores against). A training run makes one and passes
it to each evaluation; ``gnrcnn eval`` makes one per command.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from ..data.coco import CocoDataset
from ..errors import GnrcnnError
from .coco_eval import choose, load_gt

RESULT_KEYS = ("category_id", "bbox", "score")


class GroundTruth:
    """``GroundTruth(ann_file, data_root)``; ``evaluator`` as ``coco_eval.choose`` takes it."""

    def __init__(self, ann_file: str | Path, data_root: str | Path, evaluator: str | None = None) -> None:
        self.ann_file, self.data_root = Path(ann_file), Path(data_root)
        self.evaluator = choose(evaluator)
        self.dataset = CocoDataset(self.ann_file, self.data_root, train=False)

    @cached_property
    def coco(self) -> Any:
        """The evaluator's COCO object of the annotation file (parsed on first use, then kept)."""
        return load_gt(self.ann_file, self.evaluator)


def attach_image_ids(results: list[dict[str, Any]], gt: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """Copies of ``results`` that all carry the ground truth's ``image_id``.

    A record with ``image_id`` keeps it (``gnrcnn eval --out``'s results.json); one with only
    ``file_name`` (``gnrcnn predict``'s predictions.json, the path as given on the command line) is
    matched to the image whose ``file_name`` equals it, or that its path ends with (``/data/val/1.png``
    is ``val/1.png``), or to the only image with the same base name.
    """
    by_name = {im["file_name"]: im["id"] for im in gt["images"]}
    by_base: dict[str, list[int]] = defaultdict(list)
    for im in gt["images"]:
        by_base[PurePosixPath(im["file_name"]).name].append(im["id"])
    ids = set(by_name.values())
    cats = {c["id"] for c in gt["categories"]}
    cache: dict[str, int] = {}
    out = []
    for i, r in enumerate(results):
        if not isinstance(r, dict) or any(k not in r for k in RESULT_KEYS):
            raise GnrcnnError(f"{source}: record {i} is not a COCO result (needs {', '.join(RESULT_KEYS)})")
        if r["category_id"] not in cats:
            raise GnrcnnError(f"{source}: record {i} has category_id {r['category_id']}, not in the ground truth")
        if "image_id" in r:
            if r["image_id"] not in ids:
                raise GnrcnnError(f"{source}: record {i} has image_id {r['image_id']}, not in the ground truth")
            out.append(r)
            continue
        name = r.get("file_name")
        if name is None:
            raise GnrcnnError(f"{source}: record {i} has neither image_id nor file_name")
        if name not in cache:
            cache[name] = _match_name(str(name), by_name, by_base, source)
        out.append({**r, "image_id": cache[name]})
    return out


def _match_name(name: str, by_name: dict[str, int], by_base: dict[str, list[int]], source: str) -> int:
    if name in by_name:
        return by_name[name]
    path = name.replace("\\", "/")
    hits = {i for n, i in by_name.items() if path.endswith("/" + n.lstrip("/"))}
    if len(hits) == 1:
        return hits.pop()
    base = by_base.get(PurePosixPath(path).name, [])
    if not hits and len(base) == 1:
        return base[0]
    raise GnrcnnError(f"{source}: result file_name '{name}' matches {len(hits) or len(base)} ground-truth images "
                      f"(needs exactly one: equal file_name, a path ending in it, or a unique base name)")  # fmt: skip
