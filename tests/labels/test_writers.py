"""Every pre-label format on hand-made objects, including the ones formats differ on (several parts, a
hole): written, imported back by ``import-data`` (COCO: read as training reads it; Label Studio: its
JSON decoded here), and compared with the mask that went out."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gnrcnn.data.importers import import_dataset
from gnrcnn.data.importers.cvat import decode_rle, encode_rle
from gnrcnn.data.masks import rasterize
from gnrcnn.labels.folder import FORMATS, LabelOptions, write_labels
from gnrcnn.labels.objects import ImageLabels, PreLabel
from gnrcnn.labels.yolo import join_parts

S = 96
YY, XX = np.mgrid[:S, :S]
DISC = (XX - 25) ** 2 + (YY - 25) ** 2 <= 144
TWO_PARTS = ((XX - 70) ** 2 + (YY - 20) ** 2 <= 64) | ((XX > 60) & (XX < 90) & (YY > 40) & (YY < 50))
FILLED = (XX - 40) ** 2 + (YY - 70) ** 2 <= 400
RING = FILLED & ~((XX - 40) ** 2 + (YY - 70) ** 2 <= 49)
# what each format gives back of (disc, two parts, ring): the ring filled where holes cannot be expressed
EXPECTED = {
    "labelme": (DISC, TWO_PARTS, FILLED),
    "cvat": (DISC, TWO_PARTS, RING),
    "yolo": (DISC, TWO_PARTS, FILLED),
    "coco": (DISC, TWO_PARTS, RING),
    "labelstudio": (DISC, (XX > 60) & (XX < 90) & (YY > 40) & (YY < 50), FILLED),  # the largest part
}


@pytest.fixture
def images(tmp_path: Path) -> list[tuple[Path, ImageLabels]]:
    out = []
    for i, objects in enumerate([[("disc", 0.9, DISC), ("bar", 0.7, TWO_PARTS), ("ring", 0.6, RING)], []]):
        path = tmp_path / "photos" / f"scene_{i}.png"
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), np.full((S, S, 3), 40 * i, np.uint8))
        out.append((path, ImageLabels(str(path), S, S, [PreLabel(n, s, m) for n, s, m in objects])))
    return out


def _back(fmt: str, folder: Path, tmp: Path) -> tuple[list[str], np.ndarray, list[float]]:
    """The first image's labels, masks and scores (where the format keeps them) as they come back."""
    if fmt == "labelstudio":
        from pycocotools import mask as mask_utils

        task = json.loads((folder / "tasks.json").read_text())[0]
        res = task["predictions"][0]["result"]
        polys = [(np.asarray(r["value"]["points"]) * S / 100).reshape(-1).tolist() for r in res]
        masks = np.stack([mask_utils.decode(mask_utils.frPyObjects([p], S, S))[:, :, 0] for p in polys])
        return [r["value"]["polygonlabels"][0] for r in res], masks.astype(bool), [r["score"] for r in res]
    coco = json.loads((folder / "annotations.json").read_text()) if fmt == "coco" else \
        import_dataset(folder, tmp / "imported", fmt).coco  # fmt: skip
    assert [Path(im["file_name"]).stem for im in coco["images"]] == ["scene_0", "scene_1"]
    names = {c["id"]: c["name"] for c in coco["categories"]}
    anns = [a for a in coco["annotations"] if a["image_id"] == coco["images"][0]["id"]]
    masks = rasterize([a["segmentation"] for a in anns], S, S).transpose(2, 0, 1).astype(bool)
    return [names[a["category_id"]] for a in anns], masks, [a.get("score") for a in anns]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_gives_back_what_it_can_express(fmt: str, images, tmp_path: Path) -> None:
    folder = tmp_path / fmt
    write_labels(images, folder, ["disc", "bar", "ring"], LabelOptions(fmt, tolerance=0.5))
    labels, masks, scores = _back(fmt, folder, tmp_path)
    order = sorted(range(len(labels)), key=lambda i: ["disc", "bar", "ring"].index(labels[i]))
    assert [labels[i] for i in order] == ["disc", "bar", "ring"]
    for i, want in zip(order, EXPECTED[fmt]):
        iou = (masks[i] & want).sum() / (masks[i] | want).sum()
        assert iou >= 0.98, f"{fmt}: {labels[i]} came back with IoU {iou:.3f}"
    if fmt in ("coco", "labelstudio"):
        assert [scores[i] for i in order] == [0.9, 0.7, 0.6]


def test_cvat_run_lengths_round_trip() -> None:
    for mask in (RING[50:91, 20:61], ~RING[50:91, 20:61], np.zeros((3, 4), bool), np.ones((2, 2), bool)):
        runs = encode_rle(mask)
        assert np.array_equal(decode_rle(runs, mask.shape[1], mask.shape[0]), mask)
    assert encode_rle(np.array([[True, False]])) == [0, 1, 1]


def test_joined_parts_rasterise_as_the_parts() -> None:
    from pycocotools import mask as mask_utils

    from gnrcnn.labels.polygons import mask_to_polygons

    ring = join_parts(mask_to_polygons(TWO_PARTS | DISC))
    back = mask_utils.decode(mask_utils.frPyObjects([ring.astype(float).reshape(-1).tolist()], S, S))[:, :, 0]
    assert ((back > 0) & (TWO_PARTS | DISC)).sum() / ((back > 0) | (TWO_PARTS | DISC)).sum() >= 0.98
