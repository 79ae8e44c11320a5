"""Pasting M x M mask probabilities into full-size image masks, only where the boxes are.

Shapes: probs (D, M, M) in [0, 1]; boxes (D, 4) xyxy in the output image's pixels;
out: per image (n_i, H_i, W_i) bool.

Each pixel centre (x + 0.5, y + 0.5) samples the map bilinearly (``grid_sample``,
``align_corners=False``, zeros outside), the map spanning exactly the box. A pixel whose centre is
outside the box reads < 0.5, so a window of the box +-1 pixel holds every pixel that can be set.
Detections are processed in chunks of similar window size, all boxes of a chunk at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CHUNK_ELEMENTS = 1 << 24  # samples per grid_sample call (64 MB of float32 values)


def _windows(boxes: torch.Tensor, heights: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """(D, 4) integer windows [x_lo, y_lo, x_hi, y_hi) around each box, clipped to its image."""
    lo = (boxes[:, :2].floor() - 1).clamp(min=0).long()
    hi = boxes[:, 2:].ceil().long() + 1
    hi = torch.minimum(hi, torch.stack([widths, heights], dim=1))
    return torch.cat([lo, torch.maximum(hi, lo)], dim=1)


def _chunks(win: torch.Tensor, budget: int) -> list[torch.Tensor]:
    """Group detections (largest windows first) so each group's padded grid stays within ``budget``."""
    ww, wh = (win[:, 2] - win[:, 0]).cpu(), (win[:, 3] - win[:, 1]).cpu()
    order = torch.argsort(ww * wh, descending=True)
    ww, wh = ww[order], wh[order]
    out, start, n = [], 0, len(order)
    while start < n:
        hmax = torch.cummax(wh[start:], 0).values
        wmax = torch.cummax(ww[start:], 0).values
        cost = torch.arange(1, n - start + 1) * hmax * wmax
        stop = start + max(1, int((cost <= budget).sum()))
        out.append(order[start:stop])
        start = stop
    return out


def paste_masks(
    probs: torch.Tensor,
    boxes: torch.Tensor,
    image_ids: torch.Tensor,
    image_shapes: list[tuple[int, int]],
    threshold: float = 0.5,
    budget: int = CHUNK_ELEMENTS,
) -> list[torch.Tensor]:
    """Full-size boolean masks per image; detections must be sorted by image id."""
    device = probs.device
    shapes = torch.tensor(image_shapes, dtype=torch.long, device=device).reshape(-1, 2)
    counts = torch.bincount(image_ids, minlength=len(image_shapes)).tolist()
    heights, widths = shapes[image_ids, 0], shapes[image_ids, 1]
    area = heights * widths
    base = torch.cumsum(area, 0) - area
    out = torch.zeros(int(area.sum()), dtype=torch.bool, device=device)
    win = _windows(boxes, heights, widths)
    for idx in _chunks(win, budget):
        idx = idx.to(device)
        w = win[idx]
        nh, nw = int((w[:, 3] - w[:, 1]).max()), int((w[:, 2] - w[:, 0]).max())
        if nh == 0 or nw == 0:
            continue
        ys = w[:, 1:2] + torch.arange(nh, device=device)
        xs = w[:, 0:1] + torch.arange(nw, device=device)
        b = boxes[idx]
        x0, y0, x1, y1 = b[:, 0:1], b[:, 1:2], b[:, 2:3], b[:, 3:4]
        gy = (ys.float() + 0.5 - y0) / (y1 - y0) * 2 - 1
        gx = (xs.float() + 0.5 - x0) / (x1 - x0) * 2 - 1
        gy = torch.where(torch.isinf(gy), torch.zeros_like(gy), gy)  # zero-size boxes, as the reference
        gx = torch.where(torch.isinf(gx), torch.zeros_like(gx), gx)
        n = len(idx)
        grid = torch.stack([gx[:, None, :].expand(n, nh, nw), gy[:, :, None].expand(n, nh, nw)], dim=3)
        vals = F.grid_sample(probs[idx, None].float(), grid, align_corners=False)[:, 0]
        on = (vals >= threshold) & (ys < w[:, 3:4])[:, :, None] & (xs < w[:, 2:3])[:, None, :]
        flat = base[idx, None, None] + ys[:, :, None] * widths[idx, None, None] + xs[:, None, :]
        out[flat[on]] = True
    masks, start = [], 0
    for (h, w_), c in zip(image_shapes, counts):
        masks.append(out[start : start + c * h * w_].view(c, h, w_))
        start += c * h * w_
    return masks
