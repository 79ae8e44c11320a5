"""Instance masks from COCO polygons or RLE, rasterised at the image's full size."""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


def to_rle(segm: Any, h: int, w: int) -> dict[str, Any]:
    """Polygons (merged), uncompressed RLE or compressed RLE -> compressed RLE."""
    if isinstance(segm, list):
        return mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    if isinstance(segm["counts"], list):
        return mask_utils.frPyObjects(segm, h, w)
    counts = segm["counts"]
    return {"size": segm["size"], "counts": counts.encode() if isinstance(counts, str) else counts}


def rasterize(segms: list[Any], h: int, w: int) -> np.ndarray:
    """(h, w, G) uint8 bitmaps, one channel per instance (pycocotools decodes them all in one call)."""
    if not segms:
        return np.zeros((h, w, 0), np.uint8)
    return mask_utils.decode([to_rle(s, h, w) for s in segms])
