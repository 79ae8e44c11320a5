"""Box coding: (dx, dy, dw, dh) deltas between reference boxes and targets. Pure functions.

Shapes: ref (..., 4) xyxy; deltas (..., 4) or (R, 4K) class-specific; out like deltas.
A reference box's size is x2 - x1 (no +1). Decoding clamps dw, dh to +-|log(16/1000)|.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

DWH_CLAMP = abs(math.log(16 / 1000))
DecodeFn = Callable[..., torch.Tensor]


def encode(ref: torch.Tensor, target: torch.Tensor, stds: tuple[float, ...] | list[float]) -> torch.Tensor:
    """Deltas that turn ``ref`` into ``target`` (same shape (..., 4)), divided by ``stds``."""
    px = (ref[..., 0] + ref[..., 2]) * 0.5
    py = (ref[..., 1] + ref[..., 3]) * 0.5
    pw = ref[..., 2] - ref[..., 0]
    ph = ref[..., 3] - ref[..., 1]
    gx = (target[..., 0] + target[..., 2]) * 0.5
    gy = (target[..., 1] + target[..., 3]) * 0.5
    gw = target[..., 2] - target[..., 0]
    gh = target[..., 3] - target[..., 1]
    deltas = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=-1)
    return deltas / deltas.new_tensor(stds)


def clip(boxes: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Clip xyxy ``boxes`` (..., 4) to [0, w] x [0, h]; ``sizes`` (..., 2) as (h, w), broadcastable."""
    wh = sizes.flip(-1).to(boxes.dtype)
    hi = torch.cat([wh, wh], dim=-1)
    return torch.minimum(boxes.clamp(min=0), hi)


def _split_classes(ref: torch.Tensor, deltas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """View class-specific deltas (R, 4K) as (R, K, 4) against ref (R, 1, 4); return the final shape."""
    shape = deltas.shape
    if deltas.shape[-1] != 4:
        deltas = deltas.reshape(*shape[:-1], -1, 4)
        ref = ref.unsqueeze(-2)
    return ref, deltas, shape


def _clipped(boxes: torch.Tensor, sizes: torch.Tensor | None) -> torch.Tensor:
    if sizes is None:
        return boxes
    return clip(boxes, sizes if boxes.dim() == sizes.dim() else sizes.unsqueeze(-2))


Stds = tuple[float, ...] | list[float]


def decode(ref: torch.Tensor, deltas: torch.Tensor, stds: Stds, sizes: torch.Tensor | None = None) -> torch.Tensor:
    """MMDetection's arithmetic: centre + w*dx, w*exp(dw), then clip to ``sizes`` (h, w) if given."""
    ref, d, shape = _split_classes(ref, deltas)
    d = d * d.new_tensor(stds)
    pxy = (ref[..., :2] + ref[..., 2:]) * 0.5
    pwh = ref[..., 2:] - ref[..., :2]
    gxy = pxy + pwh * d[..., :2]
    gwh = pwh * d[..., 2:].clamp(min=-DWH_CLAMP, max=DWH_CLAMP).exp()
    boxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    return _clipped(boxes, sizes).reshape(shape)


def decode_detectron2(ref: torch.Tensor, deltas: torch.Tensor, stds: Stds, sizes: torch.Tensor | None = None
                      ) -> torch.Tensor:  # fmt: skip
    """detectron2's Box2BoxTransform arithmetic (divide by weights = 1/stds; clamp dw, dh from above only)."""
    ref, d, shape = _split_classes(ref, deltas)
    weights = [1.0 / s for s in stds]
    widths = ref[..., 2] - ref[..., 0]
    heights = ref[..., 3] - ref[..., 1]
    ctr_x = ref[..., 0] + 0.5 * widths
    ctr_y = ref[..., 1] + 0.5 * heights
    dx, dy = d[..., 0] / weights[0], d[..., 1] / weights[1]
    dw = (d[..., 2] / weights[2]).clamp(max=DWH_CLAMP)
    dh = (d[..., 3] / weights[3]).clamp(max=DWH_CLAMP)
    cx, cy = dx * widths + ctr_x, dy * heights + ctr_y
    w, h = torch.exp(dw) * widths, torch.exp(dh) * heights
    boxes = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
    return _clipped(boxes, sizes).reshape(shape)


def decoder(arithmetic: str) -> DecodeFn:
    """``decode`` (MMDetection's arithmetic) or ``decode_detectron2``, as the config's ``box_arithmetic`` says."""
    return decode_detectron2 if arithmetic == "detectron2" else decode
