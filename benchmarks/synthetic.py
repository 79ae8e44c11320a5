"""Synthetic training batches for benchmarks: the bundled photo at 800x1333 with random boxes and masks."""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

from gnrcnn.data.image_io import read_image
from gnrcnn.data.preprocess import Normalizer, resize, scaled_size
from gnrcnn.modeling.targets import Targets


def photo(short: int = 800, long: int = 1333, flip: bool = False, keep_ratio: bool = True) -> torch.Tensor:
    """The bundled 300x451 photo resized as for the network (or stretched to exactly short x long):
    (3, h, w) uint8 RGB."""
    img = read_image(str(resources.files("gnrcnn") / "assets" / "chelsea.png"))
    h, w = scaled_size(img.shape[0], img.shape[1], short, long) if keep_ratio else (short, long)
    out = resize(img, (h, w))
    if flip:
        out = out[:, ::-1]
    return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1)


def random_targets(h: int, w: int, n: int, num_classes: int, g: torch.Generator) -> tuple:
    """n boxes (xyxy), labels and elliptical masks inside the boxes."""
    wh = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.4, h * 0.4]) + 24
    xy = torch.rand(n, 2, generator=g) * (torch.tensor([w, h]) - wh)
    boxes = torch.cat([xy, xy + wh], 1)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    ys, xs = torch.arange(h)[None, :, None] + 0.5, torch.arange(w)[None, None, :] + 0.5
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    r = wh / 2
    masks = (((xs - c[:, 0, None, None]) / r[:, 0, None, None]) ** 2 + ((ys - c[:, 1, None, None]) / r[:, 1, None, None])
             ** 2 <= 1).to(torch.uint8)  # fmt: skip
    return boxes, labels, masks


def batch(n_images: int = 2, boxes_per_image: int = 8, num_classes: int = 80, short: int = 800, long: int = 1333,
          seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, Targets]:  # fmt: skip
    """(uint8 images (N, 3, Hp, Wp), image_sizes (N, 2), Targets), like a real batch of the data loader."""
    g = torch.Generator().manual_seed(seed)
    imgs = [photo(short, long, flip=i % 2 == 1, keep_ratio=False) for i in range(n_images)]
    h, w = imgs[0].shape[1:]
    hp, wp = -(-h // 32) * 32, -(-w // 32) * 32
    images = torch.zeros((n_images, 3, hp, wp), dtype=torch.uint8)
    bl, ll, ml = [], [], []
    for i, im in enumerate(imgs):
        images[i, :, :h, :w] = im
        b, lab, m = random_targets(h, w, boxes_per_image, num_classes, g)
        bl.append(b)
        ll.append(lab)
        ml.append(torch.nn.functional.pad(m, (0, wp - w, 0, hp - h)))
    sizes = torch.tensor([[h, w]] * n_images, dtype=torch.float32)
    pads = torch.tensor([[hp, wp]] * n_images, dtype=torch.float32)
    return images, sizes, Targets(bl, ll, torch.cat(ml), pads)


def normalized(images: torch.Tensor, sizes: torch.Tensor, cfg, device: torch.device) -> torch.Tensor:  # noqa: ANN001
    return Normalizer(cfg.input, device).normalize(images, sizes)
