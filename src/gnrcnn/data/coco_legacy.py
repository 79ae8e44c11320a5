"""The general path: any JSON (``json.loads``), checked entry by entry with ``validate.py``'s rules.

It reads what the typed fast path (``coco_schema.py`` + ``index_build.py``) declines: a file with a
value of an unexpected type anywhere (a string id, a bbox of 3 numbers, ``NaN``, an entry that is not
an object). It gives the same index and problems as the fast path on every file the fast path reads
(tests/data/test_dataset_index.py checks both on a corpus of broken entries).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np

from .index import DatasetIndex, blob, offsets
from .problems import ERROR, Problem
from .validate import check_annotation, check_image_entry


def _images(entries: list[Any], where: str, problems: list[Problem]) -> dict[int, dict[str, Any]]:
    images: dict[int, dict[str, Any]] = {}
    for i, img in enumerate(entries):
        problem = check_image_entry(img, i, where)
        if problem:
            problems.append(problem)
            continue
        if img["id"] in images:
            problems.append(Problem(ERROR, f"{where}: image id {img['id']}", "appears twice in 'images'",
                                    "duplicate-image-id"))  # fmt: skip
            continue
        images[img["id"]] = img
    return images


def _annotations(
    anns: list[Any], images: dict[int, dict[str, Any]], cat_to_label: dict[int, int], where: str, need_masks: bool,
    problems: list[Problem],
) -> tuple[dict[int, list[tuple[dict[str, Any], Any]]], int]:  # fmt: skip
    """The kept annotations by image, and the number of crowd regions (dropped without a problem)."""
    per_image: dict[int, list[tuple[dict[str, Any], Any]]] = defaultdict(list)
    seen_ids: set[int] = set()
    num_crowd = 0
    for i, ann in enumerate(anns):
        keep, problem = check_annotation(ann, i, images, cat_to_label, seen_ids, where, need_masks=need_masks)
        if problem is not None:
            problems.append(problem)
        if keep is not None:
            per_image[ann["image_id"]].append((ann, keep))
        num_crowd += keep is None and problem is None
    return per_image, num_crowd


def _segments(segms: list[Any]) -> tuple[list[int], list[np.ndarray], list[bytes | None]]:
    """Per annotation: its polygon count, the polygons as float64 arrays, its RLE as JSON (or None)."""
    n, polys, rles = [], [], []
    for s in segms:
        if isinstance(s, dict):
            n.append(0)
            rles.append(json.dumps(s).encode())
        else:
            ps = s if isinstance(s, list) else []  # True: masks not needed
            n.append(len(ps))
            polys += [np.asarray(p, np.float64) for p in ps]
            rles.append(None)
    return n, polys, rles


def build_index_general(
    data: dict[str, Any], cat_to_label: dict[int, int], where: str, need_masks: bool
) -> tuple[DatasetIndex, list[Problem], np.ndarray, int]:
    """(index, problems, ids of the images some annotation refers to, number of crowd regions), as
    ``index_build.build_index``."""
    problems: list[Problem] = []
    images = _images(data["images"], where, problems)
    per_image, num_crowd = _annotations(data["annotations"], images, cat_to_label, where, need_masks, problems)
    counts, boxes, labels, ann_ids, segms = [], [], [], [], []
    for image_id in images:
        anns = per_image.get(image_id, [])
        counts.append(len(anns))
        boxes += [a["bbox"] for a, _ in anns]
        labels += [cat_to_label[a["category_id"]] for a, _ in anns]
        ann_ids += [int(a["id"]) if isinstance(a.get("id"), int) else -1 for a, _ in anns]
        segms += [segm for _, segm in anns]
    xywh = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    n_poly, polys, rles = _segments(segms)
    rle_ann = [i for i, r in enumerate(rles) if r is not None]
    rle_row = np.full(len(rles), -1, np.int64)
    rle_row[rle_ann] = np.arange(len(rle_ann))
    names, name_off = blob([img["file_name"] for img in images.values()])
    index = DatasetIndex(
        image_id=np.array(list(images), np.int64).reshape(-1),
        width=np.array([img["width"] for img in images.values()], np.int32).reshape(-1),
        height=np.array([img["height"] for img in images.values()], np.int32).reshape(-1),
        name_off=name_off, names=names, ann_off=offsets(np.array(counts, np.int64)),
        boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
        labels=np.array(labels, np.int32).reshape(-1), ann_ids=np.array(ann_ids, np.int64).reshape(-1),
        seg_start=offsets(np.array(n_poly, np.int64))[:-1], seg_len=np.array(n_poly, np.int64).reshape(-1),
        poly_off=offsets(np.array([len(p) for p in polys], np.int64)),
        coords=np.concatenate(polys) if polys else np.zeros(0), rle_row=rle_row,
        rle_off=offsets(np.array([len(rles[i]) for i in rle_ann], np.int64)),  # type: ignore[arg-type]
        rle_blob=np.frombuffer(b"".join(rles[i] for i in rle_ann), np.uint8).copy(),  # type: ignore[misc]
    )  # fmt: skip
    referred = [a.get("image_id") for a in data["annotations"] if isinstance(a, dict)]
    return index, problems, np.array([r for r in referred if isinstance(r, int) and not isinstance(r, bool)
                                      and -(2**63) <= r < 2**63], np.int64), num_crowd  # fmt: skip
