"""What a training run trained on, said before the first iteration and kept in ``metrics.jsonl``.

One record, ``{"iter": <start>, "data": {...}}``: the training set's images, annotations and negatives,
the images and annotations left out with the reason for each count, and the ``--val-ann`` set's
counts. The model card (``gnrcnn export --format hub``) reads it back.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..data.coco import CocoDataset

# Problem kinds that leave out an image (the rest, from check_annotation, leave out an annotation).
IMAGE_KINDS = ("missing-file", "unreadable-image", "size-mismatch", "bad-image-entry", "duplicate-image-id")


def summary(dataset: CocoDataset, val: CocoDataset | None = None) -> dict[str, Any]:
    """Counts of the training set (and the validation set, when given: the one its evaluations read) as plain
    JSON data."""
    images = Counter(p.kind for p in dataset.problems if p.kind in IMAGE_KINDS) + dataset.left_out
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


def _counts(c: dict[str, int]) -> str:
    return f"{sum(c.values())} (" + ", ".join(f"{n} {k}" for k, n in c.items()) + ")" if c else "0"


def describe(s: dict[str, Any]) -> str:
    """The record in one line."""
    text = (f"data: {s['images']} images ({s['negatives']} negatives), {s['annotations']} annotations; left out: "
            f"{_counts(s['images_left_out'])} images, {_counts(s['annotations_left_out'])} annotations")  # fmt: skip
    if "val" in s:
        v = s["val"]
        text += (
            f"; validation {v['ann']}: {v['images']} images ({v['negatives']} negatives), "
            f"{v['annotations']} annotations"
        )
    return text
