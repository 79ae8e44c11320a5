"""Anchor grids for P2..P6, computed once per feature-map size and device, then reused.

Shapes: base (A, 4) per level; grid (H * W * A, 4) ordered by row, column, then ratio.
"""

from __future__ import annotations

import math

import torch


def base_anchors(stride: int, scale: float, ratios: list[float], arithmetic: str = "mmdet") -> torch.Tensor:
    """Anchors centred on (0, 0): h = scale * stride * sqrt(r), w = scale * stride / sqrt(r), not rounded."""
    if arithmetic == "detectron2":
        # detectron2 computes in Python floats: w = sqrt(area / r), h = r * w.
        size = scale * stride
        rows = []
        for r in ratios:
            w = math.sqrt(size * size / r)
            h = r * w
            rows.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
        return torch.tensor(rows, dtype=torch.float32, device="cpu")
    # MMDetection's float32 op order, so the anchors are bit-identical to the reference.
    r = torch.tensor(ratios, dtype=torch.float32, device="cpu")  # not the meta device a model may be built on
    h_ratios = torch.sqrt(r)
    w_ratios = 1 / h_ratios
    scales = torch.tensor([scale], dtype=torch.float32, device="cpu")
    ws = (float(stride) * w_ratios[:, None] * scales[None, :]).view(-1)
    hs = (float(stride) * h_ratios[:, None] * scales[None, :]).view(-1)
    return torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=-1)


def grid_anchors(base: torch.Tensor, stride: int, height: int, width: int) -> torch.Tensor:
    """All anchors of an H x W map: base shifted by (j * stride, i * stride) at cell (i, j)."""
    xs = torch.arange(width, dtype=torch.float32, device=base.device) * stride
    ys = torch.arange(height, dtype=torch.float32, device=base.device) * stride
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    shifts = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)
    return (base[None] + shifts).reshape(-1, 4)


class AnchorGenerator:
    """Per-level anchor grids, cached by (level, H, W, device): building them is not free at 800x1333."""

    def __init__(self, *, strides: list[int], scale: float, ratios: list[float], arithmetic: str = "mmdet") -> None:
        self.strides = list(strides)
        self.num_anchors = len(ratios)
        self.base = [base_anchors(s, scale, ratios, arithmetic) for s in strides]
        self._cache: dict[tuple[int, int, int, str], torch.Tensor] = {}

    def __call__(self, sizes: list[tuple[int, int]], device: torch.device) -> list[torch.Tensor]:
        out = []
        for level, (h, w) in enumerate(sizes):
            key = (level, h, w, str(device))
            if key not in self._cache:
                if len(self._cache) > 64:  # many input sizes (multi-scale training): keep memory bounded
                    self._cache.clear()
                base = self.base[level].to(device)
                self._cache[key] = grid_anchors(base, self.strides[level], h, w)
            out.append(self._cache[key])
        return out

    def valid_mask(self, sizes: list[tuple[int, int]], pad_shapes: torch.Tensor) -> list[torch.Tensor]:
        """(N, H*W*A) per level: anchors whose cell lies inside each image's own 32-padded extent.

        In a batch padded to its largest image, cells beyond an image's own extent see only padding;
        the reference leaves them out of training targets.
        """
        out = []
        for level, (h, w) in enumerate(sizes):
            s = self.strides[level]
            vh = torch.clamp(torch.ceil(pad_shapes[:, 0] / s), max=h)
            vw = torch.clamp(torch.ceil(pad_shapes[:, 1] / s), max=w)
            ys = torch.arange(h, device=pad_shapes.device)
            xs = torch.arange(w, device=pad_shapes.device)
            m = (ys[None, :, None] < vh[:, None, None]) & (xs[None, None, :] < vw[:, None, None])
            out.append(m[..., None].expand(-1, h, w, self.num_anchors).reshape(len(pad_shapes), -1))
        return out
