"""Training samples: decode, rasterise masks, resize (image, boxes, masks), flip, batch; with ``augment``
switched on, the resize and flip are part of ``augment.py``'s pipeline instead.

Shapes: a sample's image (3, h, w) uint8 RGB, boxes (G, 4) xyxy in resized pixels, labels (G,),
masks (G, h, w) uint8. A batch pads images and masks with zeros to a common size (multiple of 32).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from ..config.schema import AugmentConfig, InputConfig
from ..errors import GnrcnnError
from ..structures import ImageMeta, Targets
from .augment import augment, draw_params, make_sample
from .coco import CocoDataset
from .image_io import read_image
from .masks import rasterize
from .preprocess import pad_shape, resize, scaled_size
from .problems import SKIP, Problem
from .records import ImageRecord


@dataclass
class Sample:
    image: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    meta: ImageMeta
    skipped: list[str] = field(default_factory=list)  # images that failed to load and were replaced


def resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, G) -> (new_h, new_w, G) by nearest neighbour (OpenCV takes at most 512 channels a call)."""
    h, w = size
    if masks.shape[2] == 0:
        return np.zeros((h, w, 0), np.uint8)
    parts = [cv2.resize(masks[..., i : i + 512], (w, h), interpolation=cv2.INTER_NEAREST)
             for i in range(0, masks.shape[2], 512)]  # fmt: skip
    return np.concatenate([p.reshape(h, w, -1) for p in parts], axis=2)


def load_sample(rec: ImageRecord, cfg: InputConfig, short: int, flip: bool) -> Sample:
    """One training sample; raises GnrcnnError naming the file when the image cannot be used."""
    img = read_image(rec.path)
    h, w = img.shape[:2]
    if (h, w) != (rec.height, rec.width):
        raise GnrcnnError(f"{rec.path}: decoded size {w}x{h} differs from the JSON's {rec.width}x{rec.height}")
    nh, nw = scaled_size(h, w, short, cfg.long, cfg.resize)
    img = resize(img, (nh, nw), cfg.resize)
    masks = resize_masks(rasterize(rec.segms, h, w), (nh, nw))
    boxes = rec.boxes * np.array([nw / w, nh / h, nw / w, nh / h], np.float32)
    boxes = np.minimum(np.maximum(boxes, 0), np.array([nw, nh, nw, nh], np.float32))
    if flip:
        img, masks = img[:, ::-1], masks[:, ::-1]
        boxes = np.stack([nw - boxes[:, 2], boxes[:, 1], nw - boxes[:, 0], boxes[:, 3]], axis=1)
    meta = ImageMeta((h, w), (nh, nw), (nw / w, nh / h), str(rec.path), rec.image_id)
    return Sample(
        torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous(),
        torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32)),
        torch.from_numpy(rec.labels.copy()),
        torch.from_numpy(np.ascontiguousarray(masks.transpose(2, 0, 1))),
        meta,
    )


def load_augmented_sample(
    rec: ImageRecord, cfg: InputConfig, aug: AugmentConfig, short: int, flip: bool, rng: np.random.Generator
) -> Sample:
    """One training sample through ``augment.py``: boxes come from the transformed masks."""
    img = read_image(rec.path)
    h, w = img.shape[:2]
    if (h, w) != (rec.height, rec.width):
        raise GnrcnnError(f"{rec.path}: decoded size {w}x{h} differs from the JSON's {rec.width}x{rec.height}")
    masks = torch.from_numpy(np.ascontiguousarray(rasterize(rec.segms, h, w).transpose(2, 0, 1)))
    image = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
    sample = make_sample(image, masks, torch.from_numpy(rec.labels.copy()))
    params = draw_params(rng, h, w, aug, cfg, short, flip)
    out = augment(sample, params, aug)
    nh, nw = out.image.shape[-2:]
    _, _, wh, ww = params.window
    meta = ImageMeta((h, w), (nh, nw), (params.size[1] / ww, params.size[0] / wh), str(rec.path), rec.image_id)
    return Sample(out.image.as_subclass(torch.Tensor).contiguous(), out.boxes.as_subclass(torch.Tensor).float(),
                  out.labels, out.masks.as_subclass(torch.Tensor).contiguous(), meta)  # fmt: skip


class TrainDataset(torch.utils.data.Dataset):
    """Indexed by (record index, flip, short side, epoch) as drawn by the batch sampler, so augmentation is
    a function of the seed, the epoch and the image: a resumed run sees exactly the same samples."""

    def __init__(self, coco: CocoDataset, cfg: InputConfig, aug: AugmentConfig | None = None, seed: int = 0) -> None:
        self.records, self.cfg, self.aug, self.seed = coco.records, cfg, aug or AugmentConfig(), seed

    def __len__(self) -> int:
        return len(self.records)

    def _load(self, index: int, short: int, flip: bool, epoch: int) -> Sample:
        rec = self.records[index]
        if not self.aug.enabled:
            return load_sample(rec, self.cfg, short, flip)
        rng = np.random.default_rng([self.seed, epoch, 2, index])
        return load_augmented_sample(rec, self.cfg, self.aug, short, flip, rng)

    def __getitem__(self, item: tuple[int, bool, int, int]) -> Sample:
        idx, flip, short, epoch = item
        skipped: list[str] = []
        for attempt in range(min(len(self.records), 20)):
            # An image that cannot be read is replaced by the next one: a bad file never stops an epoch.
            index = (idx + attempt) % len(self.records)
            try:
                sample = self._load(index, short, flip, epoch)
            except GnrcnnError as e:
                skipped.append(str(e))
                continue
            sample.skipped = skipped
            return sample
        raise GnrcnnError("20 images in a row could not be read: " + " | ".join(skipped[:3]))


@dataclass
class Batch:
    images: torch.Tensor  # (N, 3, Hp, Wp) uint8, zero padded
    image_sizes: torch.Tensor  # (N, 2) float (h, w)
    targets: Targets
    metas: list[ImageMeta]
    skipped: list[str]

    def pin_memory(self) -> Batch:
        t = self.targets
        return Batch(self.images.pin_memory(), self.image_sizes, Targets(t.boxes, t.labels, t.masks.pin_memory(),
                     t.pad_shapes), self.metas, self.skipped)  # fmt: skip


def collate(samples: list[Sample], divisor: int = 32) -> Batch:
    hp, wp = pad_shape((max(s.image.shape[1] for s in samples), max(s.image.shape[2] for s in samples)), divisor)
    images = torch.zeros((len(samples), 3, hp, wp), dtype=torch.uint8)
    masks = torch.zeros((sum(len(s.labels) for s in samples), hp, wp), dtype=torch.uint8)
    g = 0
    for i, s in enumerate(samples):
        _, h, w = s.image.shape
        images[i, :, :h, :w] = s.image
        masks[g : g + len(s.labels), :h, :w] = s.masks
        g += len(s.labels)
    sizes = torch.tensor([s.image.shape[1:] for s in samples], dtype=torch.float32)
    pads = torch.tensor([pad_shape(tuple(s.image.shape[1:]), divisor) for s in samples], dtype=torch.float32)
    targets = Targets([s.boxes for s in samples], [s.labels for s in samples], masks, pads)
    skipped = [m for s in samples for m in s.skipped]
    return Batch(images, sizes, targets, [s.meta for s in samples], skipped)


def new_skipped(messages: list[str], seen: set[str]) -> list[Problem]:
    """The images of ``messages`` ("path: why") not reported before, one line each, as ``check-data`` would
    have named them (it decodes every image up front; training's start-up reads only headers)."""
    new = []
    for m in messages:
        if m not in seen:
            seen.add(m)
            where, _, why = m.partition(": ")
            new.append(Problem(SKIP, where, f"{why}; replaced by the next image", "undecodable-image"))
    return new
