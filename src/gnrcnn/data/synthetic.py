"""A synthetic training batch (the bundled photo with random boxes and elliptical masks), for benchmarks."""

from __future__ import annotations

import numpy as np
import torch

from ..structures import Targets
from .image_io import bundled_photo, read_image
from .preprocess import pad_shape, resize


def synthetic_batch(
    n_images: int = 2, num_classes: int = 80, short: int = 800, long: int = 1333, boxes: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, Targets]:
    """(uint8 images (N, 3, Hp, Wp), image_sizes (N, 2), Targets): each image exactly short x long."""
    g = torch.Generator().manual_seed(seed)
    img = read_image(bundled_photo())
    img = torch.from_numpy(np.ascontiguousarray(resize(img, (short, long)))).permute(2, 0, 1)
    hp, wp = pad_shape((short, long), 32)
    images = torch.zeros((n_images, 3, hp, wp), dtype=torch.uint8)
    images[:, :, :short, :long] = img
    ys, xs = torch.arange(hp)[None, :, None] + 0.5, torch.arange(wp)[None, None, :] + 0.5
    box_list, labels, masks = [], [], []
    for _ in range(n_images):
        wh = torch.rand(boxes, 2, generator=g) * torch.tensor([long * 0.4, short * 0.4]) + 24
        xy = torch.rand(boxes, 2, generator=g) * (torch.tensor([long, short]) - wh)
        b = torch.cat([xy, xy + wh], 1)
        c, r = (b[:, :2] + b[:, 2:]) / 2, wh / 2
        dx = (xs - c[:, 0, None, None]) / r[:, 0, None, None]
        dy = (ys - c[:, 1, None, None]) / r[:, 1, None, None]
        masks.append((dx**2 + dy**2 <= 1).to(torch.uint8))
        box_list.append(b)
        labels.append(torch.randint(0, num_classes, (boxes,), generator=g))
    sizes = torch.tensor([[short, long]] * n_images, dtype=torch.float32)
    pads = torch.tensor([[hp, wp]] * n_images, dtype=torch.float32)
    return images, sizes, Targets(box_list, labels, torch.cat(masks), pads)
