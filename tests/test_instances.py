"""The Python side without the CLI: ``Instances`` name their classes and give COCO results, ``gnrcnn.draw``
gives the picture ``predict`` saves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

import gnrcnn
from gnrcnn import GnrcnnError, Instances
from gnrcnn.coco_results import coco_records
from gnrcnn.data.image_io import read_image
from gnrcnn.visualize import draw as results

from conftest import TINY


def _instances(h: int = 60, w: int = 80) -> Instances:
    masks = torch.zeros(2, h, w, dtype=torch.bool)
    masks[0, 10:30, 5:25] = True
    masks[1, 40:55, 50:78] = True
    return Instances(
        boxes=torch.tensor([[5.0, 10.0, 25.0, 30.0], [50.0, 40.0, 78.0, 55.0]]), scores=torch.tensor([0.9, 0.4]),
        labels=torch.tensor([1, 0]), masks=masks, image_shape=(h, w), name="a.png",
        class_names=("circle", "star"), category_ids=(7, 9),
    )  # fmt: skip


def test_to_coco_maps_labels_boxes_and_masks() -> None:
    inst = _instances()
    recs = inst.to_coco(image_id=3)
    assert inst.label_names == ["star", "circle"]
    assert [r["category_id"] for r in recs] == [9, 7] and [r["image_id"] for r in recs] == [3, 3]
    assert recs[0]["bbox"] == [5.0, 10.0, 20.0, 20.0] and recs[0]["score"] == 0.9 and recs[0]["file_name"] == "a.png"
    for r, m in zip(recs, inst.masks):
        assert np.array_equal(mask_utils.decode(r["segmentation"]).astype(bool), m.numpy())
    assert recs == coco_records(inst.boxes, inst.scores, inst.labels, inst.masks, [7, 9], 3, "a.png")  # one maker
    json.dumps(recs)
    with pytest.raises(GnrcnnError, match="carry no category_ids"):
        Instances(inst.boxes, inst.scores, inst.labels, inst.masks).to_coco()


def test_draw_is_predict_s_picture(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    inst = _instances()
    out = gnrcnn.draw(image, inst, color="rgb")
    assert out.shape == (60, 80, 3) and out.dtype == np.uint8
    assert np.array_equal(out, results.draw(image, inst, ["circle", "star"]).permute(1, 2, 0).numpy())
    assert not np.array_equal(out[10:30, 5:25], image[10:30, 5:25])  # the first mask
    assert np.array_equal(out[45:, :30], image[45:, :30])  # far from both detections
    bgr = image[..., ::-1].copy()  # an array is BGR by default, and the picture comes back in its order
    assert np.array_equal(gnrcnn.draw(bgr, inst), out[..., ::-1])
    assert np.array_equal(gnrcnn.draw(bgr, inst, color="bgr"), out[..., ::-1])
    assert np.array_equal(gnrcnn.draw(image, inst, score_thr=0.95, color="rgb"), image)  # nothing strong enough
    path = tmp_path / "img.png"
    results.save_png(torch.from_numpy(image).permute(2, 0, 1), path)
    assert np.array_equal(gnrcnn.draw(path, inst), out)


def test_a_detector_s_instances_know_their_classes() -> None:
    det = gnrcnn.load_model(str(TINY), weights="none")
    image = read_image(Path(__file__).parent / "assets" / "coffee.png")
    inst = det.predict(image, color="rgb")[0]
    assert inst.class_names == tuple(det.class_names) and inst.category_ids == tuple(det.cfg.data.category_ids)
    ids = det.cfg.data.category_ids
    assert [r["category_id"] for r in inst.to_coco()] == [ids[k] for k in inst.labels.tolist()]
    assert gnrcnn.draw(image, inst).shape == image.shape
