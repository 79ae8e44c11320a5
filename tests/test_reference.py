"""The public reference case: what MMDetection 3.3 computes for one photo, step by step."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gnrcnn import load_model

from conftest import REFERENCE
from reference_match import fpn_max_rel_error, match_detections, proposals_match


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REFERENCE / "astronaut_r50.json").read_text())


@pytest.fixture(scope="module")
def detector(r50_sample: Path):
    return load_model("mask-rcnn_r50_fpn_gn-all_2x_coco", weights=r50_sample)


def test_resized_image_is_pixel_exact(detector, reference: dict) -> None:
    img, meta = detector.preprocessor.load(REFERENCE / "astronaut.png")
    want = cv2.imread(str(REFERENCE / "astronaut_resized.png"), cv2.IMREAD_COLOR)[..., ::-1]
    assert np.array_equal(img.permute(1, 2, 0).numpy(), want)
    assert list(meta.ori_shape) == reference["meta"]["ori_shape"]
    assert list(meta.img_shape) == reference["meta"]["img_shape"]
    assert list(meta.scale_factor) == reference["meta"]["scale_factor"]


def test_fpn_proposals_detections_and_masks(detector, reference: dict) -> None:
    batch, sizes, metas = detector.preprocessor([REFERENCE / "astronaut.png"])
    model = detector.model
    with torch.inference_mode():
        feats = model.features(batch)
        assert fpn_max_rel_error(feats, reference) < 1e-3
        props = model.proposals(feats, sizes)
        assert len(props.boxes) == len(reference["rpn_proposals_resized_xyxy"])
        assert proposals_match(props.boxes, props.scores, reference) >= 0.99
        dets = model.detect(feats, props, sizes)
        probs = model.mask_probs(feats, dets)
    from gnrcnn.modeling import postprocess

    (inst,) = postprocess(dets, probs, metas)
    ref = reference["detections"]
    matched, mask_ious = match_detections(inst, ref)
    assert matched >= 0.99 * len(ref) and abs(len(inst) - len(ref)) <= 0.01 * len(ref) + 1
    assert min(mask_ious) >= 0.98
    assert inst.masks.shape[1:] == (512, 512) and inst.masks.dtype == torch.bool
