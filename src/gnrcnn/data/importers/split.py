"""A seeded train/val split of a COCO instances dict that keeps every class in both parts where it can.

Images are shuffled with ``seed`` and cut at ``fraction``. Then, rarest class first, a class missing
from one part gets an image holding it from the other part, swapped for an image that the receiving
part can spare (one holding no class that would then go missing there); without such a partner the
image just moves. A class on a single image cannot be in both: it stays in train, and says so.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


def _classes_per_image(coco: dict[str, Any]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {img["id"]: set() for img in coco["images"]}
    for a in coco["annotations"]:
        if not a.get("iscrowd"):
            out[a["image_id"]].add(a["category_id"])
    return out


def _spare(image: int, part: set[int], classes: dict[int, set[int]], keep: int) -> bool:
    """Whether ``part`` keeps every class of ``image`` (and ``keep``) without it."""
    counts = Counter(c for i in part if i != image for c in classes[i])
    return keep not in classes[image] and all(counts[c] > 0 for c in classes[image])


def _move(image: int, source: set[int], dest: set[int], classes: dict[int, set[int]], order: list[int],
          keep: int) -> None:  # fmt: skip
    """Move ``image`` to ``dest`` and, to keep the sizes, one image ``dest`` can spare (none holding ``keep``) back."""
    source.discard(image)
    dest.add(image)
    back = next((i for i in order if i in dest and i != image and _spare(i, dest, classes, keep)), None)
    if back is not None:
        dest.discard(back)
        source.add(back)


def _fix(c: int, short: set[int], full: set[int], classes: dict[int, set[int]], order: list[int]) -> None:
    """Give ``short`` (the part without class ``c``) one image holding it from ``full``, swapping one back."""
    holders = [i for i in order if i in full and c in classes[i]]
    if len(holders) >= 2:
        moved = next((i for i in holders if _spare(i, full, classes, -1)), holders[0])
        _move(moved, full, short, classes, order, c)


def split_ids(coco: dict[str, Any], fraction: float, seed: int) -> tuple[set[int], set[int], list[str]]:
    """(train image ids, val image ids, one note per class that is not in both parts)."""
    classes = _classes_per_image(coco)
    ids = [img["id"] for img in coco["images"]]
    order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    n_train = min(max(round(fraction * len(ids)), 1), len(ids) - 1) if len(ids) >= 2 else len(ids)
    train, val = set(order[:n_train]), set(order[n_train:])
    counts = Counter(c for cs in classes.values() for c in cs)
    for c in sorted(counts, key=lambda k: (counts[k], k)):
        if counts[c] == 1:  # one image: it goes to train
            only = next(i for i in ids if c in classes[i])
            if only in val:
                _move(only, val, train, classes, order, c)
            continue
        for short, full in ((val, train), (train, val)):
            if not any(c in classes[i] for i in short):
                _fix(c, short, full, classes, order)
    names = {cat["id"]: cat["name"] for cat in coco["categories"]}
    notes = []
    for c in sorted(counts):
        parts = [p for p, s in (("train", train), ("val", val)) if any(c in classes[i] for i in s)]
        if len(parts) < 2:
            notes.append(f"class '{names[c]}' is on {counts[c]} image(s): only in {parts[0]}")
    return train, val, notes


def subset(coco: dict[str, Any], image_ids: set[int]) -> dict[str, Any]:
    return {
        "images": [img for img in coco["images"] if img["id"] in image_ids],
        "annotations": [a for a in coco["annotations"] if a["image_id"] in image_ids],
        "categories": coco["categories"],
    }
