"""Test-time augmentation (predict/tta.py): the mirror mapping, one view reproducing plain inference, the
merge on a trained model, composition with tiles and batches, and the one-line refusal for exported graphs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gnrcnn import load_model
from gnrcnn.config.schema import PredictConfig
from gnrcnn.data.image_io import read_image
from gnrcnn.errors import GnrcnnError
from gnrcnn.evaluation.matching import compare_instances, total
from gnrcnn.predict.loop import make_runner
from gnrcnn.predict.runner import DirectRunner
from gnrcnn.predict.tta import TtaViews, flip_boxes, flip_instances
from gnrcnn.structures import Instances
from infermodels import ColourStub

from conftest import QuickDemo


def _val_images(demo: QuickDemo) -> list[Path]:
    data = demo.out / "data"
    return [data / im["file_name"] for im in json.loads((data / "annotations" / "val.json").read_text())["images"]]


def test_mirroring_boxes_and_instances_twice_is_the_identity() -> None:
    boxes = torch.tensor([[2.0, 3, 10, 8], [0, 0, 50, 20]])
    assert torch.equal(flip_boxes(boxes, 50), torch.tensor([[40.0, 3, 48, 8], [0, 0, 50, 20]]))
    masks = torch.zeros(2, 20, 50, dtype=torch.bool)
    masks[0, 3:8, 2:10] = True
    inst = Instances(boxes, torch.tensor([0.9, 0.5]), torch.tensor([0, 1]), masks, (20, 50))
    back = flip_instances(flip_instances(inst))
    assert torch.equal(back.boxes, boxes) and torch.equal(back.masks, masks)
    assert bool(flip_instances(inst).masks[0, 3:8, 40:48].all())


@pytest.mark.parametrize("scale", [1.0, 1.2])
def test_one_unmirrored_view_is_plain_inference_at_its_scale(quick_demo: QuickDemo, scale: float) -> None:
    """One scale without the mirror: the merge (the model's NMS again) keeps every detection, and the mask head
    on the same boxes gives the same masks as plain inference at that test scale (boxes go to original pixels
    and back: float rounding only)."""
    det = load_model(weights=quick_demo.model)
    size = round(det.cfg.input.short * scale)
    images = [read_image(p) for p in _val_images(quick_demo)[:4]]
    plain = load_model(weights=quick_demo.model, overrides=[f"input.short={size}", f"input.long={size}"])
    runner = DirectRunner(det, views=TtaViews(det, [scale], flip=False))
    for image, want in zip(images, plain.predict(images, color="rgb")):
        got = runner.run([runner.prepare(image, "x")])[0]
        assert len(got) == len(want) > 0
        assert torch.allclose(got.boxes, want.boxes, atol=1e-3) and torch.equal(got.labels, want.labels)
        a = compare_instances(want, got, box_iou=0.999, score_diff=1e-6)
        assert a.matched == len(want) and a.mean_mask_iou > 0.995, a


def test_tta_finds_the_plain_detections_with_their_masks(quick_demo: QuickDemo) -> None:
    """With the mirror, the trained model's confident detections are found again and the merged ones are
    where plain inference sees objects, with masks that agree: mirrored boxes not mapped back would land
    where there is nothing. Matched by box IoU >= 0.5 whatever the class: the demo's NMS is class-agnostic,
    so a mirrored view's better box of another class may stand for an object."""
    det = load_model(weights=quick_demo.model)
    images = [str(p) for p in _val_images(quick_demo)]
    plain = det.predict(images)
    tta = load_model(weights=quick_demo.model, overrides=["predict.tta=true"]).predict(images, batch_size=3)
    kept = total([compare_instances(p, t, 0.5, None, 0.3, same_label=False) for p, t in zip(plain, tta)])
    real = total([compare_instances(t, p, 0.5, None, 0.3, same_label=False) for p, t in zip(plain, tta)])
    assert kept.detections >= 8 and real.detections >= 8, (kept, real)  # measured 40 and 44
    assert kept.found >= 0.85 and real.found >= 0.85, (kept, real)  # measured 0.95 and 1.0
    assert kept.mean_mask_iou > 0.8, kept  # measured 0.87
    assert any(not torch.equal(p.scores, t.scores) for p, t in zip(plain, tta))  # not plain inference


def test_tta_composes_with_tiles_and_batches(quick_demo: QuickDemo) -> None:
    det = load_model(weights=quick_demo.model)
    images = [read_image(p) for p in _val_images(quick_demo)[:2]]
    tiled = make_runner(det, settings=PredictConfig(tile=96, tile_batch=3, tta=True, tta_scales=[1.0, 1.2]))
    assert isinstance(tiled.views, TtaViews) and tiled.views.count == 2
    prepared = tiled.prepare(images[0], "a")
    assert len(prepared.tensors) == 4 * 2  # 2 x 2 tiles of 96 px, each at two scales
    result = tiled.run([prepared])[0].dense()
    assert result.masks.shape[1:] == images[0].shape[:2] and len(result) > 0
    batched = make_runner(det, 2, PredictConfig(tta=True))
    one = [batched.run([batched.prepare(im, "b")])[0] for im in images]
    both = batched.run([batched.prepare(im, "b") for im in images])
    for a, b in zip(one, both):  # the 128-px images pad alike: a batch changes nothing
        assert torch.allclose(a.boxes, b.boxes, atol=1e-3) and torch.equal(a.labels, b.labels)


def test_tta_on_an_exported_model_is_one_line() -> None:
    with pytest.raises(GnrcnnError, match="needs a PyTorch model") as e:
        make_runner(ColourStub(), settings=PredictConfig(tta=True))
    assert "\n" not in str(e.value)
