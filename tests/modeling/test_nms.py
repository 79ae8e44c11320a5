"""Class-agnostic NMS and the detection cap at inference (from the config and --set)."""

from __future__ import annotations

import torch
from torchvision.ops import batched_nms, box_iou

from gnrcnn import load_config
from gnrcnn.modeling import MaskRCNN
from gnrcnn.modeling.box_ops import multiclass_nms

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
