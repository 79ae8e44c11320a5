"""Reference outputs of MMDetection 3.3: resized pixels, FPN samples, proposals, detections and masks.

``data/reference/astronaut_r50.json`` is the project's public case; ``data/reference/more`` holds
the same checks on other shapes of photo, EXIF and grey inputs, R-101, the contrib config and a
batch of two (see its README).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gnrcnn import load_model
from gnrcnn.modeling import to_instances
from gnrcnn.weights import reference as refweights

from conftest import REFERENCE
from reference_match import fpn_max_rel_error, match_detections, proposals_match

MORE = REFERENCE / "more"
R50 = "mask-rcnn_r50_fpn_gn-all_2x_coco"
_detectors: dict[str, object] = {}


def detector(config: str, ckpt_dir: Path):
    if config not in _detectors:
        path = refweights.write_checkpoint(config, ckpt_dir / f"ref_{config}.pth")
        _detectors.clear()  # one large model in memory at a time
        _detectors[config] = load_model(config, weights=path)
    return _detectors[config]


def check_against(det, images: list[Path], refs: list[dict]) -> None:
    batch, sizes, metas = det.preprocessor(images)
    model = det.model
    with torch.inference_mode():
        feats = model.features(batch)
        props, _ = model.rpn(feats, sizes)
        (dets, probs), _ = model.roi_heads(feats, props, sizes)
    results = to_instances(dets, probs, metas)
    feats = list(feats.values())
    for i, (ref, inst, meta) in enumerate(zip(refs, results, metas)):
        assert list(meta.ori_shape) == ref["meta"]["ori_shape"] and list(meta.img_shape) == ref["meta"]["img_shape"]
        assert list(meta.scale_factor) == pytest.approx(ref["meta"]["scale_factor"], rel=1e-12)
        assert fpn_max_rel_error(feats, ref, image=i) < 1e-3
        mine = props.image_ids == i
        assert int(mine.sum()) == len(ref["rpn_proposals_resized_xyxy"])
        assert proposals_match(props.boxes[mine], props.scores[mine], ref) >= 0.99
        matched, mask_ious = match_detections(inst, ref["detections"])
        n = len(ref["detections"])
        assert matched >= 0.99 * n and abs(len(inst) - n) <= 0.01 * n + 1
        assert min(mask_ious, default=1.0) >= 0.98
        assert inst.masks.shape[1:] == tuple(ref["meta"]["ori_shape"]) and inst.masks.dtype == torch.bool


def test_resized_image_is_pixel_exact(ckpt_dir: Path) -> None:
    det = detector(R50, ckpt_dir)
    img, meta = det.preprocessor.load(REFERENCE / "astronaut.png")
    want = cv2.imread(str(REFERENCE / "astronaut_resized.png"), cv2.IMREAD_COLOR)[..., ::-1]
    assert np.array_equal(img.permute(1, 2, 0).numpy(), want)
    assert meta.img_shape == (800, 800) and meta.scale_factor == (1.5625, 1.5625)


def test_public_reference_case(ckpt_dir: Path) -> None:
    ref = json.loads((REFERENCE / "astronaut_r50.json").read_text())
    check_against(detector(R50, ckpt_dir), [REFERENCE / "astronaut.png"], [ref])


@pytest.mark.parametrize(
    ("ref_file", "config"),
    [
        ("astronaut_crop_r50.json", R50),
        ("astronaut_tall_r50.json", R50),
        ("astronaut_exif6_r50.json", R50),
        ("astronaut_grey_r50.json", R50),
        ("astronaut_crop_r101.json", "mask-rcnn_r101_fpn_gn-all_2x_coco"),
        ("astronaut_crop_r50-contrib.json", "mask-rcnn_r50-contrib_fpn_gn-all_2x_coco"),
    ],
)
def test_more_references(ref_file: str, config: str, ckpt_dir: Path) -> None:
    ref = json.loads((MORE / ref_file).read_text())
    check_against(detector(config, ckpt_dir), [MORE / ref["image"].split("/")[-1]], [ref])


def test_batch_of_two_padded_together(ckpt_dir: Path) -> None:
    ref = json.loads((MORE / "batch2_crop_tall_r50.json").read_text())
    images = [MORE / name for name in ref["images"]]
    check_against(detector(R50, ckpt_dir), images, ref["results"])
