"""What a training run trained on, said before the first iteration and kept in ``metrics.jsonl``.

One record, ``{"iter": <start>, "data": {...}}``: the training set's images, annotations and negatives,
the images and annotations left out with the reason for each count, and the ``--val-ann`` set's
counts. The model card (``gnrcnn export --format hub``) reads it back.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..data.coco import CocoDataset
from ..data.problems import IMAGE_KINDS, count_text, images_left_out


def summary(dataset: CocoDataset, val: CocoDataset | None = None) -> dict[str, Any]:
    """Counts of the training set (and the validation set, when given: the one its evaluations read) as plain
    JSON data."""
    images = images_left_out(dataset.problems, dataset.left_out)  # as import-data and check-data count them
    anns = Counter(p.kind for p in dataset.problems
                   if p.kind not in IMAGE_KINDS and not p.message.endswith("the instance kept"))  # fmt: skip
    if dataset.num_crowd:
        anns["crowd"] = dataset.num_crowd
    out: dict[str, Any] = {
        "ann": str(dataset.ann_file),
        "images": len(dataset),
        "annotations": dataset.num_instances,
        "negatives": sum(1 for r in dataset.records if not len(r.labels)),
        "classes": list(dataset.class_names),
        "images_left_out": dict(images.most_common()),
        "annotations_left_out": dict(anns.most_common()),
    }
    if val is not None:
        out["val"] = {"ann": str(val.ann_file), "images": len(val), "annotations": val.num_instances,
                      "negatives": sum(1 for r in val.records if not len(r.labels))}  # fmt: skip
    return out


def describe(s: dict[str, Any]) -> str:
    """The record in one line."""
    left = f"{count_text(s['images_left_out'])} images, {count_text(s['annotations_left_out'])} annotations"
    text = f"data: {s['images']} images ({s['negatives']} negatives), {s['annotations']} annotations; left out: {left}"
    if "val" in s:
        v = s["val"]
        text += (
            f"; validation {v['ann']}: {v['images']} images ({v['negatives']} negatives), "
            f"{v['annotations']} annotations"
        )
    return text
