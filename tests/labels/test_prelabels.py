"""Pre-labels in every tool's format, imported back by ``import-data``: the same objects, the same masks.

The quick demo's model predicts its 8 validation images once (``gnrcnn predict --labels``); each
format's folder is read back by our importer of that format (COCO: the file itself, as training reads
it; Label Studio: its JSON decoded here, the importer being another issue's part), and every
pre-label must come back as one object of the same class whose mask has IoU >= 0.95 with the
prediction's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gnrcnn.cli import main
from gnrcnn.data.importers import import_dataset
from gnrcnn.data.masks import rasterize
from gnrcnn.evaluation.matching import greedy_match
from gnrcnn.labels.folder import FORMATS, LabelOptions, read_predictions, write_labels
from gnrcnn.labels.objects import ImageLabels
from gnrcnn.predict.images import JSONL

SCORE_THR = 0.25  # the quick demo model is weak: its best scores are ~0.4
MIN_IOU = 0.95


@pytest.fixture(scope="module")
def predicted(quick_demo, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, list[tuple[Path, ImageLabels]], list[str]]:  # fmt: skip
    """``gnrcnn predict --labels labelme`` of the demo's validation images: the output folder, the pre-labels
    and the class names."""
    out = tmp_path_factory.mktemp("prelabels")
    code = main(
        [
            "predict",
            str(quick_demo.out / "data" / "val"),
            "--weights",
            str(quick_demo.model),
            "--out",
            str(out),
            "--labels",
            "labelme",
            "--score-thr",
            str(SCORE_THR),
            "--no-pictures",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    cats = json.loads((quick_demo.out / "data" / "annotations" / "val.json").read_text())["categories"]
    names = {c["id"]: c["name"] for c in cats}
    return out, read_predictions(out / JSONL, names, SCORE_THR), list(names.values())


def _folder(fmt: str, predicted: tuple[Path, list, list[str]], tmp: Path) -> Path:
    out, items, class_names = predicted
    if fmt == "labelme":
        return out / "labels_labelme"  # written by the CLI
    write_labels(items, tmp / fmt, class_names, LabelOptions(fmt, tolerance=0.5, score_thr=SCORE_THR))
    return tmp / fmt


def _imported(fmt: str, folder: Path, tmp: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """Each image's (labels, masks (n, H, W)) as the tool's file gives them back, keyed by image stem."""
    if fmt == "labelstudio":
        return _labelstudio(folder)
    coco = json.loads((folder / "annotations.json").read_text()) if fmt == "coco" else \
        import_dataset(folder, tmp / f"imported_{fmt}", fmt).coco  # fmt: skip
    names = {c["id"]: c["name"] for c in coco["categories"]}
    out = {}
    for im in coco["images"]:
        anns = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
        masks = rasterize([a["segmentation"] for a in anns], im["height"], im["width"]).transpose(2, 0, 1)
        out[Path(im["file_name"]).stem] = ([names[a["category_id"]] for a in anns], masks.astype(bool))
    return out


def _labelstudio(folder: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    from pycocotools import mask as mask_utils

    out = {}
    for task in json.loads((folder / "tasks.json").read_text()):
        results = task["predictions"][0]["result"]
        assert task["data"]["image"].startswith("/data/local-files/?d=images/")
        assert all(0 <= r["score"] <= 1 and r["type"] == "polygonlabels" for r in results)
        masks = []
        for r in results:
            w, h = r["original_width"], r["original_height"]
            xy = np.asarray(r["value"]["points"]) * [w / 100, h / 100]
            masks.append(mask_utils.decode(mask_utils.frPyObjects([xy.reshape(-1).tolist()], h, w))[:, :, 0])
        stem = Path(task["data"]["image"]).stem
        out[stem] = ([r["value"]["polygonlabels"][0] for r in results], np.asarray(masks, dtype=bool))
    return out


def _ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    inter = a @ b.T
    return inter / (a.sum(1)[:, None] + b.sum(1)[None] - inter)


@pytest.mark.parametrize("fmt", FORMATS)
def test_prelabels_import_back_as_the_predicted_objects(fmt: str, predicted, tmp_path: Path) -> None:
    folder = _folder(fmt, predicted, tmp_path)
    back = _imported(fmt, folder, tmp_path)
    _, items, _ = predicted
    assert sum(len(img.objects) for _, img in items) >= 20  # the demo model finds objects to compare
    ious = []
    for path, img in items:
        labels, masks = back[path.stem]
        assert len(labels) == len(img.objects), f"{path.name}: {len(labels)} objects back, {len(img.objects)} out"
        if not img.objects:
            continue
        iou = _ious(np.stack([o.mask for o in img.objects]), masks)
        same = np.array([[a.label == b for b in labels] for a in img.objects])
        quality = torch.from_numpy(np.where(same, iou, -1.0))
        pairs = greedy_match(quality, torch.tensor([o.score for o in img.objects]), MIN_IOU)
        assert (pairs >= 0).all(), f"{path.name}: an object came back with mask IoU < {MIN_IOU} or another class"
        ious += iou[np.arange(len(pairs)), pairs.numpy()].tolist()
    print(f"{fmt}: {len(ious)} objects, mask IoU min {min(ious):.3f} mean {np.mean(ious):.3f}")
