"""RoIAlign as a sparse matrix product, for training on the CPU.

torchvision's CPU RoIAlign backward runs on one thread and re-derives every sample point; at
800x1333 it costs seconds per iteration. Here the bilinear weights of all sample points of all
RoIs become one sparse matrix M (R * S * S rows, N * H * W columns), and the pooled features are
M @ features: the backward is M^T @ grad, both multi-threaded. The arithmetic is torchvision's
(``aligned=True``, adaptive sampling, average), so the results agree to float rounding.

Shapes: feat (N, C, H, W); rois (R, 5) as (image index, x1, y1, x2, y2); out (R, C, S, S).
"""

from __future__ import annotations

import warnings

import torch


def _axis(start: torch.Tensor, bin_size: torch.Tensor, grid: torch.Tensor, max_grid: int, out: int, size: int
          ) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """Per RoI, bin and sample along one axis: (low index, high index, low weight, high weight), each (R, S, G)."""
    dt = start.dtype
    i = torch.arange(max_grid, device=start.device)
    p = torch.arange(out, device=start.device, dtype=dt)
    g = grid.clamp(min=1).to(dt)[:, None, None]
    v = (
        start[:, None, None]
        + p[None, :, None] * bin_size[:, None, None]
        + (i[None, None, :].to(dt) + 0.5) * (bin_size[:, None, None] / g)
    )
    valid = (v >= -1.0) & (v <= size) & (i[None, None, :] < grid[:, None, None])
    v = v.clamp(min=0)
    lo = v.floor().long()
    top = lo >= size - 1
    lo = torch.where(top, torch.full_like(lo, size - 1), lo)
    hi = torch.where(top, lo, lo + 1)
    frac = torch.where(top, torch.zeros_like(v), v - lo.to(dt))
    return lo, hi, (1 - frac) * valid, frac * valid


def roi_align_matrix(rois: torch.Tensor, shape: tuple[int, int, int, int], out: int, scale: float) -> torch.Tensor:
    """The CSR matrix M of RoIAlign: (R * out * out, N * H * W)."""
    _, _, h, w = shape
    r = rois.shape[0]
    x1, y1 = rois[:, 1] * scale - 0.5, rois[:, 2] * scale - 0.5
    rw, rh = rois[:, 3] * scale - 0.5 - x1, rois[:, 4] * scale - 0.5 - y1
    gw, gh = torch.ceil(rw / out).long(), torch.ceil(rh / out).long()
    gmax_w, gmax_h = max(int(gw.max()), 1) if r else 1, max(int(gh.max()), 1) if r else 1
    yl, yh, wyl, wyh = _axis(y1, rh / out, gh, gmax_h, out, h)  # (R, S, Gh)
    xl, xh, wxl, wxh = _axis(x1, rw / out, gw, gmax_w, out, w)  # (R, S, Gw)
    inv = 1.0 / torch.clamp(gw * gh, min=1).to(rois.dtype)

    def ys(t: torch.Tensor) -> torch.Tensor:  # (R, S, G) -> (R, S, 1, G, 1)
        return t[:, :, None, :, None]

    def xs(t: torch.Tensor) -> torch.Tensor:  # (R, S, G) -> (R, 1, S, 1, G)
        return t[:, None, :, None, :]

    base = (rois[:, 0].long() * (h * w))[:, None, None, None, None]
    cols = torch.stack([base + ys(a) * w + xs(b) for a in (yl, yh) for b in (xl, xh)], -1)
    vals = torch.stack([ys(a) * xs(b) for a in (wyl, wyh) for b in (wxl, wxh)], -1)
    vals = vals * inv[:, None, None, None, None, None]
    full = (r, out, out, gmax_h, gmax_w, 4)
    cols, vals = cols.expand(full).reshape(r * out * out, -1), vals.expand(full).reshape(r * out * out, -1)
    keep = vals != 0  # padding of small sampling grids and points outside the map: no entry
    counts = keep.sum(dim=1)
    crow = torch.zeros(r * out * out + 1, dtype=torch.int64, device=rois.device)
    torch.cumsum(counts, 0, out=crow[1:])
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols[keep], vals[keep], (r * out * out, shape[0] * h * w))


def roi_align_sparse(feat: torch.Tensor, rois: torch.Tensor, out: int, scale: float) -> torch.Tensor:
    """RoIAlign (aligned, adaptive sampling) of ``rois`` on ``feat``; differentiable with respect to ``feat``."""
    n, c, h, w = feat.shape
    m = roi_align_matrix(rois.detach().float(), (n, c, h, w), out, scale)
    # float32 like torchvision's RoIAlign under autocast (sparse products have no bf16/fp16 kernels)
    flat = feat.permute(0, 2, 3, 1).reshape(n * h * w, c).float()  # a view when feat is channels_last fp32
    with torch.autocast(device_type=feat.device.type, enabled=False):
        pooled = m @ flat
    return pooled.view(-1, out, out, c).permute(0, 3, 1, 2)
