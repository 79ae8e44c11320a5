"""What a pre-label writer is given: each image's detections as named masks, scored.

``from_instances`` turns a detector's ``Instances`` into them (the score threshold applied as one
tensor operation, the masks moved to NumPy in one copy); ``from_records`` does the same for the COCO
results records ``gnrcnn predict`` writes (``predictions.json``), decoding their RLEs in one
pycocotools call per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..structures import Instances


@dataclass(frozen=True)
class PreLabel:
    label: str  # the class name
    score: float
    mask: np.ndarray  # (H, W) bool, the image's full size


@dataclass
class ImageLabels:
    file_name: str  # where the writer puts (or finds) the image, relative to its output folder
    width: int
    height: int
    objects: list[PreLabel] = field(default_factory=list)


def from_instances(instances: Instances, score_thr: float) -> list[PreLabel]:
    """``instances``' detections scoring >= ``score_thr``, best first, named by ``instances.class_names``."""
    keep = (instances.scores >= score_thr).nonzero().squeeze(1).cpu()
    keep = keep[instances.scores.cpu()[keep].argsort(descending=True, stable=True)]
    masks = instances.masks.cpu()[keep].numpy().astype(bool)
    names = instances.label_names
    scores = instances.scores.cpu()[keep].tolist()
    return [PreLabel(names[i], s, m) for i, s, m in zip(keep.tolist(), scores, masks)]


def from_records(records: list[dict[str, Any]], names: dict[int, str], score_thr: float) -> list[PreLabel]:
    """One image's COCO results records (RLE ``segmentation``) scoring >= ``score_thr``, best first;
    ``names`` maps each ``category_id`` to its class name."""
    from pycocotools import mask as mask_utils

    kept = sorted((r for r in records if r["score"] >= score_thr and "segmentation" in r), key=lambda r: -r["score"])
    if not kept:
        return []
    rles = [{"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].encode()} for r in kept]
    masks = mask_utils.decode(rles).astype(bool)  # (H, W, n)
    return [PreLabel(names.get(r["category_id"], str(r["category_id"])), float(r["score"]), masks[:, :, i])
            for i, r in enumerate(kept)]  # fmt: skip
