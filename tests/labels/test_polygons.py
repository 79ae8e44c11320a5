"""Masks as polygons on the pixel grid, and Label Studio's polygon results made from them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from gnrcnn.labels.labelstudio import instances_to_labelstudio, labelling_config
from gnrcnn.labels.polygons import has_holes, mask_to_polygons
from gnrcnn.structures import Instances

H = W = 96


def _rasterise(rings: list[np.ndarray]) -> np.ndarray:
    polys = [r.astype(float).reshape(-1).tolist() for r in rings]
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, H, W))).astype(bool)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _shapes() -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[:H, :W]
    return {
        "disc": (xx - 30) ** 2 + (yy - 25) ** 2 <= 81,
        "rectangle": (xx > 40) & (xx < 50) & (yy > 40) & (yy < 75),
        "diamond": np.abs(xx - 60) + np.abs(yy - 60) < 12,
        "two parts": ((xx - 15) ** 2 + (yy - 80) ** 2 <= 36) | ((xx > 70) & (yy > 5) & (yy < 12)),
        "pixel and line": (xx == 5) & (yy == 5) | (yy == 90) & (xx > 20) & (xx < 40),
    }


@pytest.mark.parametrize("tolerance", [0.0, 0.5])
@pytest.mark.parametrize("name", list(_shapes()))
def test_polygons_rasterise_back_to_the_mask(name: str, tolerance: float) -> None:
    mask = _shapes()[name]
    rings = mask_to_polygons(mask, tolerance)
    assert all(r.dtype == np.float32 and r.ndim == 2 and r.shape[1] == 2 and len(r) >= 3 for r in rings)
    assert len(rings) == (2 if name in ("two parts", "pixel and line") else 1)
    assert _iou(_rasterise(rings), mask) >= 0.99  # pixel edges, not centres: a centre ring loses ~15% here


def test_tolerance_simplifies_and_largest_part_comes_first() -> None:
    disc = _shapes()["disc"]
    assert len(mask_to_polygons(disc, 2.0)[0]) < len(mask_to_polygons(disc, 0.5)[0]) < len(mask_to_polygons(disc, 0)[0])
    big, small = mask_to_polygons(_shapes()["two parts"])
    assert _rasterise([big]).sum() > _rasterise([small]).sum()
    with pytest.raises(ValueError, match="tolerance"):
        mask_to_polygons(disc, -1)


def test_holes_are_found() -> None:
    yy, xx = np.mgrid[:H, :W]
    ring = ((xx - 40) ** 2 + (yy - 40) ** 2 <= 400) & ~((xx - 40) ** 2 + (yy - 40) ** 2 <= 25)
    assert has_holes(ring) and not has_holes(_shapes()["two parts"])
    outer = _rasterise(mask_to_polygons(ring))
    assert outer.sum() > ring.sum() and _iou(outer, ring | ((xx - 40) ** 2 + (yy - 40) ** 2 <= 25)) >= 0.99


def test_labelstudio_results_are_percent_polygons_with_scores() -> None:
    masks = torch.from_numpy(np.stack([_shapes()["disc"], _shapes()["rectangle"]]))
    inst = Instances(torch.tensor([[21.0, 16, 40, 35], [41, 41, 50, 75]]), torch.tensor([0.9, 0.3]),
                     torch.tensor([1, 0]), masks, (H, W), "a.png", ("square", "circle"), (1, 2))  # fmt: skip
    out = instances_to_labelstudio(inst, width=W, height=H, from_name="label", to_name="image", tolerance=0.5,
                                   score_thr=0.5)  # fmt: skip
    assert len(out) == 1 and out[0]["type"] == "polygonlabels" and out[0]["score"] == 0.9
    assert out[0]["value"]["polygonlabels"] == ["circle"] and out[0]["value"]["closed"] is True
    pixels = np.asarray(out[0]["value"]["points"]) * [W / 100, H / 100]
    assert _iou(_rasterise([pixels]), _shapes()["disc"]) >= 0.99
    assert (out[0]["original_width"], out[0]["original_height"]) == (W, H)
    both = instances_to_labelstudio(inst, width=W, height=H, from_name="label", to_name="image", tolerance=0.5,
                                    score_thr=0.0)  # fmt: skip
    assert [r["score"] for r in both] == [0.9, 0.3]
    assert '<Label value="circle"/>' in labelling_config(["circle", "square"])
