"""Class-agnostic NMS and the detection cap at inference (from the config and --set), and predict's
pictures: drawn from score 0.5, with labels that do not pile up on each other."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import batched_nms, box_iou

from gnrcnn import load_config
from gnrcnn.cli import build_parser
from gnrcnn.modeling import MaskRCNN
from gnrcnn.modeling.box_ops import multiclass_nms
from gnrcnn.predict.draw import draw, place_labels
from gnrcnn.structures import Instances

from conftest import TINY

NMS = {"score_thr": 0.05, "nms_iou": 0.5, "max_per_image": 100}


def test_class_agnostic_nms_reports_one_class_per_object() -> None:
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([[0.9, 0.05], [0.8, 0.7], [0.06, 0.0501]])
    per_class = multiclass_nms(boxes[:, None].expand(3, 2, 4), scores, torch.zeros(3, dtype=torch.long), **NMS)
    assert per_class.labels.tolist() == [0, 1, 0, 1]  # box 1 as class 1 and box 2 twice
    agnostic = multiclass_nms(boxes[:, None].expand(3, 2, 4), scores, torch.zeros(3, dtype=torch.long), **NMS,
                              class_agnostic=True)  # fmt: skip
    assert agnostic.scores.tolist() == torch.tensor([0.9, 0.06]).tolist() and agnostic.labels.tolist() == [0, 0]
    two = multiclass_nms(boxes[:2, None], scores[:2, :1], torch.tensor([0, 1]), **NMS, class_agnostic=True)
    assert two.image_ids.tolist() == [0, 1]  # images still never suppress each other


def test_class_agnostic_nms_equals_torchvision_per_image_nms_on_many_boxes() -> None:
    g = torch.Generator().manual_seed(0)
    r, k = 700, 3  # 2100 candidates: the CPU per-group path
    xy = torch.rand(r, k, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + 10 + torch.rand(r, k, 2, generator=g) * 40], 2)
    scores = torch.rand(r, k, generator=g)
    image_ids = torch.arange(r) % 2
    dets = multiclass_nms(boxes, scores, image_ids, score_thr=0.0, nms_iou=0.5, max_per_image=10_000,
                          class_agnostic=True)  # fmt: skip
    flat_ids = image_ids[:, None].expand(r, k).reshape(-1)
    keep = batched_nms(boxes.reshape(-1, 4), scores.reshape(-1), flat_ids, 0.5)
    assert sorted(dets.scores.tolist()) == sorted(scores.reshape(-1)[keep].tolist())


def test_model_applies_class_agnostic_nms_and_max_detections_from_the_config() -> None:
    over = ["model.roi.class_agnostic_nms=true", "model.roi.max_detections=7", "model.roi.score_thr=0.0"]
    cfg = load_config(str(TINY), over)
    torch.manual_seed(0)
    model = MaskRCNN(cfg.model, 3).eval()
    with torch.no_grad():
        dets, _ = model(torch.randn(2, 3, 128, 128), torch.tensor([[128.0, 128.0]] * 2))
    for i in (0, 1):
        b = dets.boxes[dets.image_ids == i]
        assert 0 < len(b) <= 7
        iou = box_iou(b, b).fill_diagonal_(0)
        assert float(iou.max()) <= 0.5  # across classes too


def test_pictures_are_drawn_from_score_0_5_by_default() -> None:
    assert build_parser().parse_args(["predict", "x.png", "--out", "o"]).score_thr == 0.5
    image = np.full((64, 64, 3), 128, np.uint8)
    masks = torch.zeros((2, 64, 64), dtype=torch.bool)
    masks[0, 5:20, 5:20] = masks[1, 30:50, 30:50] = True
    inst = Instances(torch.tensor([[5.0, 5, 20, 20], [30, 30, 50, 50]]), torch.tensor([0.9, 0.45]),
                     torch.tensor([0, 1]), masks)  # fmt: skip
    only_first = Instances(inst.boxes[:1], inst.scores[:1], inst.labels[:1], masks[:1])
    assert torch.equal(draw(image, inst, ["a", "b"]), draw(image, only_first, ["a", "b"]))
    assert not torch.equal(draw(image, inst, ["a", "b"], score_thr=0.4), draw(image, only_first, ["a", "b"]))


def test_labels_move_around_their_box_and_never_overlap() -> None:
    same = [(10.0, 20.0, 60.0, 80.0)] * 3
    spots = place_labels(same, [(30, 10)] * 3, (100, 100))
    assert spots == [(10.0, 10.0, 40.0, 20.0), (10.0, 20.0, 40.0, 30.0), (10.0, 80.0, 40.0, 90.0)]
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(40, 2, generator=g) * 150
    boxes = [tuple(v) for v in torch.cat([xy, xy + 30], 1).tolist()]
    spots = place_labels(boxes, [(40, 12)] * 40, (180, 180))
    placed = [s for s in spots if s is not None]
    assert 0 < len(placed) < 40  # crowded: some labels are left out rather than piled up
    for i, a in enumerate(placed):
        assert a[0] >= 0 and a[2] <= 180 and a[1] >= 0 and a[3] <= 180
        for b in placed[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
