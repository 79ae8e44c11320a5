"""A generated classification set: one shape per small image, on textured, cluttered backgrounds.

The classification studies' data (``gnrcnn study classify``), made without downloads and drawn
for all images at once (array operations over the whole set, one pass per class, no per-image
loop). Each image holds one shape of ``SHAPES`` (the class) of random size, position, rotation and
aspect, in a colour offset from its background's by a drawn contrast, filled with stripes whose
frequency grows with the class in overlapping ranges (a texture cue that alone does not separate
neighbouring classes), on a background with its own colour, gradient, stripes and noise, crossed
by random lines, some drawn over the shape. The per-image colour and brightness make the images'
statistics differ widely, which is what batch statistics over few images get wrong.

Shapes: images (N, 3, size, size) uint8, labels (N,) int64.
"""

from __future__ import annotations

import numpy as np

from ..data.shapes import SHAPES
from ..errors import GnrcnnError

# (outer vertices, inner radius) of each star-like outline: a regular n-gon's inner "vertex" is its
# edge midpoint at cos(pi / n); a star's is drawn in.
_FOLDED = {"triangle": (3, 0.5), "hexagon": (6, float(np.cos(np.pi / 6))), "star": (5, 0.45)}


def _f32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32)


def _folded_inside(u: np.ndarray, v: np.ndarray, n: int, inner: float) -> np.ndarray:
    """Inside the outline with ``n`` outer vertices at radius 1 and inner ones at ``inner``: fold the
    angle into one half-sector, then one half-plane test against the edge from outer to inner vertex."""
    rho, theta = np.hypot(u, v), np.arctan2(v, u)
    phi = np.mod(theta, 2 * np.pi / n)
    phi = np.minimum(phi, 2 * np.pi / n - phi)
    px, py = rho * np.cos(phi), rho * np.sin(phi)
    bx, by = inner * np.cos(np.pi / n), inner * np.sin(np.pi / n)
    return (bx - 1) * py - by * (px - 1) >= 0


def _inside(shape: str, u: np.ndarray, v: np.ndarray, aspect: np.ndarray) -> np.ndarray:
    """Boolean masks (n, S, S) of ``shape`` in its own unit coordinates (u, v); aspect (n, 1, 1)."""
    if shape == "circle":
        return u * u + v * v <= 1
    if shape in _FOLDED:
        return _folded_inside(u, v, *_FOLDED[shape])
    au, av = np.abs(u), np.abs(v)
    if shape == "cross":
        b = 0.5 * aspect
        return ((au <= 1) & (av <= b)) | ((au <= b) & (av <= 1))
    return (au <= 1) & (av <= aspect)  # rectangle


def _lines(rng: np.random.Generator, n: int, count: int, grid: np.ndarray, size: int) -> np.ndarray:
    """Masks (n, S, S) of ``count`` random segments per image, 1-2 px wide."""
    p0, p1 = _f32(rng.uniform(0, size, (2, n, count, 2, 1, 1)))
    d = p1 - p0
    rel = grid[None, None] - p0  # (n, count, 2, S, S)
    t = np.clip((rel * d).sum(2) / np.maximum((d * d).sum(2), 1e-6), 0, 1)
    dist = np.hypot(rel[:, :, 0] - t * d[:, :, 0], rel[:, :, 1] - t * d[:, :, 1])
    return (dist <= _f32(rng.uniform(0.5, 1.2, (n, count, 1, 1)))).any(1)


def _background(rng: np.random.Generator, n: int, grid: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, S, S, 3) float and their base colours (n, 3): colour, gradient, stripes, noise."""
    base = _f32(rng.uniform(70, 185, (n, 1, 1, 3)))
    x, y = grid[0] / size - 0.5, grid[1] / size - 0.5
    g = _f32(rng.uniform(-60, 60, (n, 2, 1, 1)))
    img = base + (g[:, 0] * x + g[:, 1] * y)[..., None]
    freq, angle, phase = _f32(rng.uniform((0.15, 0, 0), (0.9, np.pi, 2 * np.pi), (n, 3)).T[..., None, None])
    stripes = np.sin(freq * (np.cos(angle) * grid[0] + np.sin(angle) * grid[1]) + phase)
    img = img + _f32(stripes * rng.uniform(0, 25, (n, 1, 1)))[..., None] * _f32(rng.uniform(0.3, 1, (n, 1, 1, 3)))
    noise = rng.standard_normal(img.shape, dtype=np.float32) * _f32(rng.uniform(2, 12, (n, 1, 1, 1)))
    return img + noise, base[:, 0, 0]


def _fill(rng: np.random.Generator, labels: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The shapes' texture (n, S, S): stripes whose frequency grows with the class, with overlapping ranges
    (a cue a first layer sees, not enough alone), at a random angle and strength."""
    n = len(labels)
    freq = _f32(0.5 + 0.32 * labels + rng.uniform(-0.16, 0.16, n))[:, None, None]
    angle, phase = _f32(rng.uniform((0, 0), (np.pi, 2 * np.pi), (n, 2)).T[..., None, None])
    wave = np.sin(freq * (np.cos(angle) * grid[0] + np.sin(angle) * grid[1]) + phase)
    return wave * _f32(rng.uniform(20, 50, (n, 1, 1)))


def make_crops(count: int, size: int = 32, seed: int = 0, classes: tuple[str, ...] = SHAPES
               ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``count`` images of ``size`` pixels, one shape each, and their labels (index into ``classes``).

    The same (count, size, seed, classes) give the same set; classes are balanced in expectation."""
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes or len(set(classes)) != len(classes) or count < 1 or size < 8:
        raise GnrcnnError(f"shape crops: need count >= 1, size >= 8 and distinct classes of {', '.join(SHAPES)}; "
                          f"got count {count}, size {size}, classes {list(classes)}")  # fmt: skip
    rng = np.random.default_rng([seed, 24])
    grid = np.stack(np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, indexing="xy")).astype(np.float32)
    labels = rng.integers(0, len(classes), count)
    img, base = _background(rng, count, grid, size)
    clutter = _lines(rng, count, 3, grid, size)
    img = np.where(clutter[..., None], img + _f32(rng.uniform(-70, 70, (count, 1, 1, 3))), img)
    r = _f32(rng.uniform(0.32, 0.42, (count, 1, 1)) * size)
    c = _f32(rng.uniform(0.3, 0.7, (count, 2, 1, 1)) * size)
    ang, aspect = _f32(rng.uniform((0, 0.45), (2 * np.pi, 1.0), (count, 2)).T[..., None, None])
    dx, dy = (grid[0] - c[:, 0]) / r, (grid[1] - c[:, 1]) / r
    u, v = np.cos(ang) * dx + np.sin(ang) * dy, -np.sin(ang) * dx + np.cos(ang) * dy
    mask = np.zeros((count, size, size), bool)
    for k, name in enumerate(classes):  # one pass per class over its images
        idx = labels == k
        mask[idx] = _inside(name, u[idx], v[idx], aspect[idx])
    # The shape's colour: its background's plus an offset of drawn contrast, so some shapes are faint.
    offset = rng.normal(0, 1, (count, 3))
    offset *= (rng.uniform(45, 120, count) / np.linalg.norm(offset, axis=1))[:, None]
    shape = _f32(base + offset)[:, None, None] + rng.standard_normal(img.shape, dtype=np.float32) * 8
    shape += _fill(rng, labels, grid)[..., None]
    img = np.where(mask[..., None], shape, img)
    over = _lines(rng, count, 2, grid, size) & (rng.uniform(size=(count, 1, 1)) < 0.5)
    img = np.where(over[..., None], img * 0.4 + _f32(rng.uniform(0, 153, (count, 1, 1, 3))), img)
    return np.clip(img, 0, 255).astype(np.uint8).transpose(0, 3, 1, 2).copy(), labels.astype(np.int64)
