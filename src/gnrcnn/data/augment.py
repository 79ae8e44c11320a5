"""Training augmentations through ``torchvision.transforms.v2`` on ``tv_tensors``: the image, the boxes and the
masks of a sample go through the same transform, so they cannot drift apart.

Shapes: image (3, H, W) uint8 RGB; boxes (G, 4) xyxy float32 in pixels with exclusive ends (the box of a
mask is [min x, min y, max x + 1, max y + 1]); masks (G, H, W) uint8; labels (G,) int64.

The steps, in order: a resized crop (large-scale jitter, a random crop then the usual resize, or the usual
resize alone), the sampler's horizontal flip, a vertical flip, a rotation by a multiple of 90 degrees,
photometric distortion. After each geometric step the boxes are the transformed masks' boxes (as
detectron2's ``recompute_boxes``): a crop cuts instances and a resize resamples masks, so the box v2 moves
is no longer the mask's. Instances a crop cuts to slivers are dropped (``AugmentConfig.min_visible``,
``min_box_size``).

Parameters are drawn from a numpy generator the caller seeds with (seed, epoch, image index), never from a
global generator, always all of them in the same order: a resumed run draws exactly what an uninterrupted
one drew, and switching one augmentation on leaves the others' draws unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from ..config.schema import AugmentConfig, InputConfig
from .preprocess import scaled_size


@dataclass(frozen=True)
class AugSample:
    image: tv_tensors.Image
    boxes: tv_tensors.BoundingBoxes
    masks: tv_tensors.Mask
    labels: torch.Tensor


@dataclass(frozen=True)
class AugParams:
    window: tuple[int, int, int, int]  # (top, left, height, width) of the source image kept
    size: tuple[int, int]  # (h, w) the window is resized to
    hflip: bool
    vflip: bool
    rot90: int  # quarter turns, counter-clockwise
    photometric: tuple[tuple[str, float], ...]  # (adjustment, factor) in the order applied


def make_sample(image: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor) -> AugSample:
    """A sample whose boxes are its masks' boxes: (3, H, W) uint8 image, (G, H, W) uint8 masks."""
    h, w = image.shape[-2:]
    boxes = tv_tensors.BoundingBoxes(mask_boxes(masks), format="XYXY", canvas_size=(h, w))
    return AugSample(tv_tensors.Image(image), boxes, tv_tensors.Mask(masks), labels)


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(G, H, W) -> (G, 4) boxes [x1, y1, x2, y2] with exclusive ends; an empty mask gives (0, 0, 0, 0)."""
    g, h, w = masks.shape
    if g == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    cols, rows = masks.any(dim=1).bool(), masks.any(dim=2).bool()  # (G, W), (G, H); any() keeps uint8
    x1, y1 = cols.byte().argmax(dim=1), rows.byte().argmax(dim=1)
    x2, y2 = w - cols.flip(1).byte().argmax(dim=1), h - rows.flip(1).byte().argmax(dim=1)
    boxes = torch.stack([x1, y1, x2, y2], dim=1).float()
    return torch.where(cols.any(dim=1)[:, None], boxes, torch.zeros_like(boxes))


def _rng_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _lsj_window(rng: np.random.Generator, h: int, w: int, aug: AugmentConfig, side: int) -> tuple:
    """detectron2's ResizeScale then FixedSizeCrop, as one crop of the source resized to the output."""
    scale = min(side / h, side / w) * _rng_uniform(rng, *aug.lsj_scale)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    ch, cw = min(side, nh), min(side, nw)
    y0, x0 = (np.array([nh - ch, nw - cw]) * rng.uniform(0.0, 1.0)).round().astype(int)
    top, left = min(int(y0 / scale), h - 1), min(int(x0 / scale), w - 1)
    height, width = max(1, min(round(ch / scale), h - top)), max(1, min(round(cw / scale), w - left))
    return (top, left, height, width), (ch, cw)


def _crop_window(rng: np.random.Generator, h: int, w: int, aug: AugmentConfig, inp: InputConfig, short: int) -> tuple:
    fh, fw = rng.uniform(*aug.crop_range, size=2)
    ch, cw = max(1, int(h * fh + 0.5)), max(1, int(w * fw + 0.5))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return (top, left, ch, cw), scaled_size(ch, cw, short, inp.long, inp.resize)


PHOTOMETRIC = {
    "brightness": ((0.875, 1.125), F.adjust_brightness),  # mmdet's +-32 of 255, as a factor
    "contrast": ((0.5, 1.5), F.adjust_contrast),
    "saturation": ((0.5, 1.5), F.adjust_saturation),
    "hue": ((-0.05, 0.05), F.adjust_hue),  # +-18 degrees
}


def draw_params(
    rng: np.random.Generator, h: int, w: int, aug: AugmentConfig, inp: InputConfig, short: int, hflip: bool
) -> AugParams:
    """Every random choice of one sample; ``short`` and ``hflip`` are the sampler's draws for it."""
    lsj = _lsj_window(rng, h, w, aug, aug.lsj_size or inp.long)
    crop = _crop_window(rng, h, w, aug, inp, short)
    vflip = bool(rng.random() < aug.vflip_prob)
    rot = int(rng.integers(0, 4))
    apply = rng.random(len(PHOTOMETRIC)) < 0.5
    factors = [_rng_uniform(rng, *rng_range) for rng_range, _ in PHOTOMETRIC.values()]
    order = rng.permutation(len(PHOTOMETRIC))
    names = list(PHOTOMETRIC)
    photometric = tuple((names[i], factors[i]) for i in order if apply[i]) if aug.photometric else ()
    if aug.lsj:
        window, size = lsj
    elif aug.crop:
        window, size = crop
    else:
        window, size = (0, 0, h, w), scaled_size(h, w, short, inp.long, inp.resize)
    return AugParams(window, tuple(size), hflip, vflip, rot if aug.rot90 else 0, photometric)


def move(s: AugSample, fn: Callable, **kw: Any) -> AugSample:
    """Image, boxes and masks through the same v2 transform ``fn``."""
    image = fn(s.image, **kw)
    # The canvas is the image's: v2 returns an empty box set with its canvas unchanged.
    boxes = tv_tensors.wrap(fn(s.boxes, **kw).as_subclass(torch.Tensor).float(), like=s.boxes,
                            canvas_size=tuple(image.shape[-2:]))  # fmt: skip
    return replace(s, image=image, boxes=boxes, masks=fn(s.masks, **kw))


def _geometric(s: AugSample, fn: Callable, **kw: Any) -> AugSample:
    """``move``, then the boxes taken from the moved masks: v2 moves flipped boxes exactly but rotated ones
    through float64 trigonometry (1e-14 off), and the masks are what the model learns from."""
    out = move(s, fn, **kw)
    return replace(out, boxes=tv_tensors.wrap(mask_boxes(out.masks), like=out.boxes))


def keep_instances(s: AugSample, keep: torch.Tensor) -> AugSample:
    """The sample with only the instances where ``keep`` (G,) is True."""
    boxes = tv_tensors.wrap(s.boxes[keep], like=s.boxes)
    return replace(s, boxes=boxes, masks=tv_tensors.Mask(s.masks[keep]), labels=s.labels[keep])


def resized_crop(
    s: AugSample, window: tuple[int, int, int, int], size: tuple[int, int], aug: AugmentConfig
) -> AugSample:
    """Crop ``window`` and resize it to ``size``; boxes from the new masks; slivers dropped."""
    top, left, height, width = window
    before = s.masks.flatten(1).sum(dim=1)
    inside = s.masks[:, top : top + height, left : left + width].flatten(1).sum(dim=1)
    out = move(s, F.resized_crop, top=top, left=left, height=height, width=width, size=list(size),
                     antialias=False)  # fmt: skip
    boxes = mask_boxes(out.masks)
    sides = torch.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = (inside >= aug.min_visible * before) & (inside > 0) & (sides >= max(aug.min_box_size, 1.0))
    out = replace(out, boxes=tv_tensors.wrap(boxes, like=out.boxes))
    return keep_instances(out, keep)


def photometric(s: AugSample, steps: tuple[tuple[str, float], ...]) -> AugSample:
    image = s.image
    for name, factor in steps:
        image = PHOTOMETRIC[name][1](image, factor)
    return replace(s, image=tv_tensors.Image(image))


def plan(params: AugParams, aug: AugmentConfig) -> list[tuple[str, Callable[[AugSample], AugSample]]]:
    """The steps ``params`` call for, by name, each a function of the sample."""
    steps: list[tuple[str, Callable[[AugSample], AugSample]]] = [
        ("resized_crop", lambda s: resized_crop(s, params.window, params.size, aug))
    ]
    if params.hflip:
        steps.append(("hflip", lambda s: _geometric(s, F.horizontal_flip)))
    if params.vflip:
        steps.append(("vflip", lambda s: _geometric(s, F.vertical_flip)))
    if params.rot90:
        steps.append(("rot90", lambda s: _geometric(s, F.rotate, angle=90.0 * params.rot90, expand=True)))
    if params.photometric:
        steps.append(("photometric", lambda s: photometric(s, params.photometric)))
    return steps


def augment(s: AugSample, params: AugParams, aug: AugmentConfig) -> AugSample:
    for _, step in plan(params, aug):
        s = step(s)
    return s
