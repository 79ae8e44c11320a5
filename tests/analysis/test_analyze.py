"""``gnrcnn analyze``: the confusion matrix equals a hand-made count, per-image AP equals COCOeval run
on each image alone, results find their images by id or file name, and the pictures get written."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from gnrcnn.analysis.match import confusion_matrix, per_image_ap
from gnrcnn.errors import GnrcnnError
from gnrcnn.evaluation.coco_eval import run_cocoeval
from gnrcnn.evaluation.ground_truth import attach_image_ids

S = 100  # image side


def _box_ann(i: int, image_id: int, cat: int, box: list[int], crowd: int = 0) -> dict:
    x, y, w, h = box
    return {"id": i, "image_id": image_id, "category_id": cat, "bbox": box, "area": w * h, "iscrowd": crowd,
            "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}  # fmt: skip


def _rle(box: list[int]) -> dict:
    m = np.zeros((S, S), np.uint8)
    x, y, w, h = box
    m[y : y + h, x : x + w] = 1
    r = mask_utils.encode(np.asfortranarray(m))
    return {"size": [S, S], "counts": r["counts"].decode()}


# Classes a, b, c. What each prediction should count as (score threshold 0.5, box IoU 0.5) is noted.
GT_ANNS = [
    (1, 1, [10, 10, 20, 20], 0), (1, 2, [50, 50, 30, 30], 0), (1, 1, [0, 70, 30, 30], 1),  # last: a crowd region
    (2, 3, [5, 5, 40, 40], 0), (2, 1, [60, 60, 20, 20], 0),  # the a object is missed
    (4, 2, [0, 0, 50, 50], 0),  # image 3 has no objects
]  # fmt: skip
PREDS = [
    (1, 1, [10, 10, 20, 20], 0.9),  # a on a: right
    (1, 1, [50, 50, 30, 30], 0.8),  # a on b: b taken for a
    (1, 2, [11, 11, 20, 20], 0.7),  # b on the already matched a: spurious b
    (1, 3, [0, 70, 30, 30], 0.6),  # on the crowd region: left out
    (1, 1, [60, 10, 20, 20], 0.3),  # below the score threshold: left out
    (2, 3, [6, 6, 40, 40], 0.95),  # c on c: right
    (2, 2, [80, 0, 15, 15], 0.55),  # on nothing: spurious b
    (3, 1, [0, 0, 10, 10], 0.5),  # on an image without objects, at the threshold: spurious a
    (4, 2, [20, 20, 50, 50], 0.9),  # IoU 0.22 with the b object: spurious b, and the b object missed
]  # fmt: skip
# rows: ground truth a, b, c, background (spurious); columns: predicted a, b, c, background (missed)
EXPECTED = [[1, 0, 0, 1],
            [1, 0, 0, 1],
            [0, 0, 1, 0],
            [1, 3, 0, 0]]  # fmt: skip


@pytest.fixture
def handmade(tmp_path: Path) -> tuple[Path, Path, dict, list[dict]]:
    gt = {"images": [{"id": i, "file_name": f"val/{i}.png", "width": S, "height": S} for i in (1, 2, 3, 4)],
          "categories": [{"id": c, "name": n} for c, n in ((1, "a"), (2, "b"), (3, "c"))],
          "annotations": [_box_ann(k + 1, *a) for k, a in enumerate(GT_ANNS)]}  # fmt: skip
    results = [{"image_id": i, "category_id": c, "bbox": b, "score": s, "segmentation": _rle(b)}
               for i, c, b, s in PREDS]  # fmt: skip
    (tmp_path / "val").mkdir()
    rng = np.random.default_rng(0)
    for i in (1, 2, 3, 4):
        cv2.imwrite(str(tmp_path / "val" / f"{i}.png"), rng.integers(0, 255, (S, S, 3), dtype=np.uint8))
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    return tmp_path / "gt.json", tmp_path / "res.json", gt, results


def test_confusion_matrix_equals_the_hand_count(handmade) -> None:
    _, _, gt, results = handmade
    counts = confusion_matrix(gt, results, [1, 2, 3], score_thr=0.5, iou_thr=0.5)
    assert counts.tolist() == EXPECTED
    # A looser IoU turns image 4's pair (IoU 0.22) into a match; a higher score threshold drops predictions.
    assert confusion_matrix(gt, results, [1, 2, 3], 0.5, 0.2)[1, 1] == 1
    strict = confusion_matrix(gt, results, [1, 2, 3], score_thr=0.85, iou_thr=0.5)
    assert strict.tolist() == [[1, 0, 0, 1], [0, 0, 0, 2], [0, 0, 1, 0], [0, 1, 0, 0]]


def test_per_image_ap_equals_cocoeval_on_that_image_alone(handmade) -> None:
    gt_file, _, _, results = handmade
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
    for iou_type in ("bbox", "segm"):
        ours = per_image_ap(run_cocoeval(gt, results, iou_type, summary=False))
        assert set(ours) == {1, 2, 4}  # image 3 has no objects: no AP
        for image_id, ap in ours.items():
            with contextlib.redirect_stdout(io.StringIO()):
                ev = COCOeval(gt, gt.loadRes([dict(r) for r in results]), iou_type)
                ev.params.imgIds = [image_id]
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
            assert ap == pytest.approx(ev.stats[0], abs=1e-12)
    assert ours[4] == 0.0 and 0 < ours[1] < 1


def test_results_find_their_images_by_file_name(handmade) -> None:
    _, _, gt, results = handmade
    by_path = [{k: v for k, v in r.items() if k != "image_id"} | {"file_name": f"/data/x/val/{r['image_id']}.png"}
               for r in results]  # fmt: skip
    assert [r["image_id"] for r in attach_image_ids(by_path, gt, "p.json")] == [r["image_id"] for r in results]
    bare = [{**r, "file_name": "3.png"} for r in by_path[:1]]  # a base name unique in the ground truth
    assert attach_image_ids(bare, gt, "p.json")[0]["image_id"] == 3
    with pytest.raises(GnrcnnError, match=r"p.json: result file_name 'other/9.png' matches 0"):
        attach_image_ids([{**by_path[0], "file_name": "other/9.png"}], gt, "p.json")
    with pytest.raises(GnrcnnError, match="category_id 7, not in the ground truth"):
        attach_image_ids([{**results[0], "category_id": 7}], gt, "p.json")


def test_analyze_command_writes_every_picture(handmade, tmp_path: Path, capsys) -> None:
    from gnrcnn.cli import main

    gt_file, res_file, _, _ = handmade
    out = tmp_path / "analysis"
    argv = ["analyze", "--results", str(res_file), "--ann", str(gt_file), "--out", str(out),
            "--data-root", str(gt_file.parent), "--num-images", "1"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "found with the right class" in printed and "spurious" in printed
    for png in ("pr_curves.png", "confusion_matrix.png", "worst/01_4.png", "best/01_1.png"):
        img = cv2.imread(str(out / png))
        assert img is not None and img.shape[0] > 200, png
    report = json.loads((out / "analysis.json").read_text())
    assert report["confusion"]["counts"] == EXPECTED
    assert report["ranked_by"] == "segm" and report["worst"][0]["image_id"] == 4
    assert (out / "summary.txt").read_text() in printed
    # Without --data-root the images cannot be found: one line says what to give.
    assert main(argv[:-4]) == 2
    assert "give --data-root" in capsys.readouterr().err


def test_an_object_keeps_its_colour_in_both_panels() -> None:
    """Each prediction is drawn in the colour of the object it found, whatever class it says; one that found
    nothing gets a colour no object has."""
    import torch

    from gnrcnn.analysis.analyze import object_colors
    from gnrcnn.structures import Instances

    def inst(boxes: list, scores: list, labels: list) -> Instances:
        return Instances(boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), scores=torch.tensor(scores),
                         labels=torch.tensor(labels), masks=torch.zeros(len(boxes), S, S, dtype=torch.bool),
                         image_shape=(S, S))  # fmt: skip

    gt = inst([[0, 0, 40, 40], [50, 50, 90, 90]], [1.0, 1.0], [0, 1])
    # object 1 found with the wrong class, object 0 found twice (the lower score finds it taken), one miss
    pred = inst([[52, 50, 90, 92], [0, 0, 40, 38], [1, 1, 40, 40], [60, 0, 80, 20]], [0.9, 0.8, 0.4, 0.7], [2, 0, 0, 1])
    gt_colors, pred_colors = object_colors(gt, pred)
    assert len(set(gt_colors)) == 2
    assert pred_colors[0] == gt_colors[1] and pred_colors[1] == gt_colors[0]
    assert pred_colors[2] not in gt_colors and pred_colors[3] not in gt_colors and pred_colors[2] != pred_colors[3]
    assert object_colors(gt, inst([], [], [])) == (gt_colors, [])
    assert object_colors(inst([], [], []), pred)[0] == []
