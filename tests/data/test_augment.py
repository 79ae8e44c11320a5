"""Augmentations (data/augment.py): boxes and masks move together, each box is its mask's box after every
step, slivers are dropped, the draws are reproducible per (seed, epoch, image), and off means off."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as F

from gnrcnn import load_config
from gnrcnn.config.schema import AugmentConfig, InputConfig
from gnrcnn.data.augment import AugParams, draw_params, make_sample, mask_boxes, move, plan, resized_crop
from gnrcnn.data.coco import CocoDataset
from gnrcnn.data.image_io import read_image
from gnrcnn.data.masks import rasterize
from gnrcnn.data.train_data import TrainDataset
from gnrcnn.errors import GnrcnnError

from conftest import ASSETS

ALL_ON = AugmentConfig(lsj=True, photometric=True, vflip_prob=0.5, rot90=True)
CROP_ON = AugmentConfig(crop=True, crop_range=[0.3, 0.8], photometric=True, vflip_prob=0.5, rot90=True)


def samples(root: Path) -> list:
    ds = CocoDataset(root / "annotations" / "train.json", root)
    out = []
    for rec in ds.records:
        img = read_image(rec.path)
        masks = torch.from_numpy(np.ascontiguousarray(rasterize(rec.segms, rec.height, rec.width).transpose(2, 0, 1)))
        out.append(make_sample(torch.from_numpy(img).permute(2, 0, 1), masks, torch.from_numpy(rec.labels)))
    return out


def test_mask_boxes_have_exclusive_ends() -> None:
    m = torch.zeros((3, 10, 12), dtype=torch.uint8)
    m[0, 2:5, 3:9] = 1
    m[1, 0, 11] = 1
    assert mask_boxes(m).tolist() == [[3, 2, 9, 5], [11, 0, 12, 1], [0, 0, 0, 0]]


@pytest.mark.parametrize("aug", [ALL_ON, CROP_ON], ids=["lsj", "crop"])
def test_every_box_is_its_mask_box_after_every_step(shapes8: Path, aug: AugmentConfig) -> None:
    inp = InputConfig(short=128, long=128)
    steps_seen: set[str] = set()
    dropped = 0
    for index, s in enumerate(samples(shapes8)):
        for epoch in range(4):
            p = draw_params(np.random.default_rng([0, epoch, 2, index]), 128, 128, aug, inp, 128, epoch % 2 == 0)
            x = s
            for name, step in plan(p, aug):
                y = step(x)
                steps_seen.add(name)
                boxes = y.boxes.as_subclass(torch.Tensor)
                assert y.image.shape[-2:] == y.masks.shape[-2:] == y.boxes.canvas_size, name
                assert len(boxes) == len(y.masks) == len(y.labels), name
                assert torch.equal(boxes, mask_boxes(y.masks)), (name, p)
                sides = torch.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
                assert bool((sides >= aug.min_box_size).all()), name  # no sliver, no empty mask
                dropped += len(x.labels) - len(y.labels)
                x = y
            if aug.lsj:
                assert max(x.image.shape[-2:]) <= 128  # the fixed-size crop
    assert steps_seen == {"resized_crop", "hflip", "vflip", "rot90", "photometric"}
    assert dropped > 0  # the crops did cut some instances to slivers


@pytest.mark.parametrize("name", ["hflip", "vflip", "rot90", "rot180", "rot270"])
def test_v2_moves_boxes_with_masks_and_pixels(shapes8: Path, name: str) -> None:
    """Before any recomputation, v2's own box transform lands on the transformed masks' boxes, and the
    image moves with the masks (each instance painted in its own colour stays under its mask)."""
    s = samples(shapes8)[0]
    colours = torch.arange(1, len(s.labels) + 1, dtype=torch.uint8) * 30

    def paint(masks: torch.Tensor) -> torch.Tensor:  # each pixel: the colour of the last instance covering it
        return (masks.as_subclass(torch.Tensor) * colours[:, None, None]).amax(0)

    s = dataclasses.replace(s, image=type(s.image)(paint(s.masks).expand(3, -1, -1).clone()))
    if name in ("hflip", "vflip"):
        fn, args = (F.horizontal_flip if name == "hflip" else F.vertical_flip), {}
    else:
        fn, args = F.rotate, {"angle": float(name[3:]), "expand": True}
    y = move(s, fn, **args)
    torch.testing.assert_close(y.boxes.as_subclass(torch.Tensor), mask_boxes(y.masks), rtol=0, atol=1e-4)
    assert torch.equal(y.image.as_subclass(torch.Tensor)[0], paint(y.masks))


def test_a_crop_drops_slivers_and_keeps_the_rest_with_mask_boxes() -> None:
    masks = torch.zeros((3, 100, 100), dtype=torch.uint8)
    masks[0, 10:30, 10:30] = 1  # fully inside the window
    masks[1, 40:60, 45:70] = 1  # 5 of 25 columns inside (20%): a sliver at min_visible 0.25
    masks[2, 70:90, 40:60] = 1  # 10 of 20 columns inside (50%): kept, cut
    s = make_sample(torch.zeros((3, 100, 100), dtype=torch.uint8), masks, torch.tensor([0, 1, 2]))
    out = resized_crop(s, (0, 0, 100, 50), (100, 50), AugmentConfig())
    assert out.labels.tolist() == [0, 2]
    assert out.boxes.as_subclass(torch.Tensor).tolist() == [[10, 10, 30, 30], [40, 70, 50, 90]]
    half = resized_crop(s, (0, 0, 50, 50), (100, 100), AugmentConfig(min_visible=0.0))  # x2 upscale
    assert half.labels.tolist() == [0, 1]  # instance 2 lies outside, 1 keeps a sliver it is allowed
    assert half.boxes.as_subclass(torch.Tensor).tolist()[0] == [20, 20, 60, 60]


def test_draws_depend_on_seed_epoch_and_image_only(shapes8: Path) -> None:
    cfg = load_config(str(ASSETS / "tiny.yaml"), ["augment.lsj=true", "augment.rot90=true",
                                                                           "augment.photometric=true"])  # fmt: skip
    ds = TrainDataset(CocoDataset(shapes8 / "annotations" / "train.json", shapes8), cfg.input, cfg.augment, seed=3)
    a, b, c = ds[(2, True, 128, 5)], ds[(2, True, 128, 5)], ds[(2, True, 128, 6)]
    assert torch.equal(a.image, b.image) and torch.equal(a.boxes, b.boxes) and torch.equal(a.masks, b.masks)
    assert not (a.image.shape == c.image.shape and torch.equal(a.image, c.image))
    torch.manual_seed(123)  # the global generators play no part
    assert torch.equal(ds[(2, True, 128, 5)].image, a.image)


def test_switching_one_augmentation_on_leaves_the_others_draws() -> None:
    inp = InputConfig(short=128, long=128)
    p1 = draw_params(np.random.default_rng(7), 100, 150, AugmentConfig(lsj=True), inp, 128, False)
    p2 = draw_params(np.random.default_rng(7), 100, 150, AugmentConfig(lsj=True, photometric=True), inp, 128, False)
    assert (p1.window, p1.size) == (p2.window, p2.size) and p2.photometric


def test_off_by_default_and_checked() -> None:
    cfg = load_config("mask-rcnn_r50_fpn_gn-all_2x_coco")
    assert not cfg.augment.enabled and not cfg.data.keep_empty_images and not cfg.model.roi.class_agnostic_nms
    assert cfg.train.ema_decay == 0 and cfg.train.clip_grad_norm == 0 and cfg.train.early_stop == 0
    for bad in (["augment.lsj=true", "augment.crop=true"], ["augment.lsj_scale=[2.0, 1.0]"],
                ["augment.crop_range=[0.5, 1.5]"], ["augment.vflip_prob=2"]):  # fmt: skip
        with pytest.raises(GnrcnnError, match="augment"):
            load_config("mask-rcnn_r50_fpn_gn-all_2x_coco", bad)


def test_lsj_window_follows_detectron2() -> None:
    """ResizeScale(0.1..2.0, S) then FixedSizeCrop(S): at scale 2 a 100 x 200 image at S = 128 becomes
    128 x 256 before the crop, so the crop keeps half its width, all its height."""
    aug = AugmentConfig(lsj=True, lsj_scale=[2.0, 2.0], lsj_size=128)
    p = draw_params(np.random.default_rng(0), 100, 200, aug, InputConfig(), 800, False)
    top, left, height, width = p.window
    assert p.size == (128, 128) and (top, height) == (0, 100) and width == 100 and 0 <= left <= 100
    small = draw_params(np.random.default_rng(0), 100, 200, dataclasses.replace(aug, lsj_scale=[0.5, 0.5]),
                        InputConfig(), 800, False)  # fmt: skip
    assert small.window == (0, 0, 100, 200) and small.size == (32, 64)  # smaller than S: the batch pads it
    assert isinstance(small, AugParams)
