"""Scenes of the demo's shapes for inference: a large mosaic of small shapes (tiling) and a video of
moving shapes (``write_video`` saves one). Same classes, colours and textured background as ``shapes.py``;
each shape sized like the demo's training shapes, so at native resolution the demo model sees familiar objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import runtime
from ..fileio import atomic_path
from .image_io import video_codec
from .shapes import CLASSES, shape_polygon


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A noisy gradient with faint random lines, float64 H x W x 3 (the demo's, not square)."""
    base = rng.integers(40, 216, 3)
    ramp = np.linspace(-1, 1, height)[:, None, None] * rng.integers(-40, 41, 3)
    img = base + ramp + rng.normal(0, rng.uniform(4, 14), (height, width, 3))
    for _ in range(int(rng.integers(3, 9) * max(1, height * width // 224**2) ** 0.5)):
        p0 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        color = (base + rng.integers(-35, 36, 3)).tolist()
        cv2.line(img, p0, p1, color, int(rng.integers(1, 4)))
    return img


@dataclass
class Mosaic:
    image: np.ndarray  # H x W x 3 uint8 RGB
    boxes: np.ndarray  # (n, 4) xyxy of each shape's pixels
    labels: np.ndarray  # (n,) class index 0..2 (shapes.CLASSES)


def make_mosaic(height: int = 2000, width: int = 3000, cell: int = 120, radius: tuple[float, float] = (16, 40),
                fill: float = 0.85, seed: int = 0) -> Mosaic:  # fmt: skip
    """One shape in ``fill`` of the cells of a ``cell``-pixel grid, each placed at random in its cell
    (never touching another); shapes fall across any tile grid laid over it."""
    rng = np.random.default_rng(seed)
    img = background(rng, height, width)
    boxes, labels = [], []
    for gy in range(height // cell):
        for gx in range(width // cell):
            if rng.uniform() > fill:
                continue
            kind, r = int(rng.integers(0, 3)), float(rng.uniform(*radius))
            r = min(r, cell / 2 - 2)
            cx = gx * cell + rng.uniform(r, cell - r)
            cy = gy * cell + rng.uniform(r, cell - r)
            pts = np.round(shape_polygon(CLASSES[kind], cx, cy, r, rng.uniform(0, np.pi), rng.uniform(0.45, 1.0)))
            pts = pts.astype(np.int32)
            cv2.fillPoly(img, [pts], rng.integers(0, 256, 3).tolist())
            x0, y0 = pts.min(0).clip(0)
            x1, y1 = pts.max(0) + 1
            boxes.append([x0, y0, min(x1, width), min(y1, height)])
            labels.append(kind)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return Mosaic(img, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64))


def moving_shapes(frames: int = 40, height: int = 240, width: int = 320, count: int = 4,
                  radius: tuple[float, float] = (22, 45), seed: int = 0) -> Iterator[np.ndarray]:  # fmt: skip
    """H x W x 3 uint8 RGB frames of ``count`` shapes gliding, turning and bouncing off the edges."""
    rng = np.random.default_rng(seed)
    bg = np.clip(background(rng, height, width), 0, 255).astype(np.uint8)
    kinds = rng.integers(0, 3, count)
    r = rng.uniform(*radius, count)
    pos = np.stack([rng.uniform(r, width - r), rng.uniform(r, height - r)], 1)
    vel = rng.uniform(-6, 6, (count, 2))
    angle, spin, aspect = rng.uniform(0, np.pi, count), rng.uniform(-0.08, 0.08, count), rng.uniform(0.5, 1, count)
    colors = rng.integers(0, 256, (count, 3))
    limit = np.array([width, height])
    for _ in range(frames):
        img = bg.copy()
        for k in range(count):
            pts = shape_polygon(CLASSES[int(kinds[k])], *pos[k], r[k], angle[k], aspect[k])
            cv2.fillPoly(img, [np.round(pts).astype(np.int32)], colors[k].tolist())
        yield img
        pos += vel
        bounce = (pos < r[:, None]) | (pos > limit - r[:, None])
        vel[bounce] *= -1
        angle += spin


def write_video(frames: Iterator[np.ndarray], path: str | Path, fps: float = 10.0) -> int:
    """H x W x 3 uint8 RGB frames -> a video file (MJPG in .avi, mp4v otherwise); the frame count."""
    runtime.quiet_video_decoder()
    path, count = Path(path), 0
    with atomic_path(path, "video") as tmp:
        writer = None
        try:
            for frame in frames:
                if writer is None:
                    fourcc = cv2.VideoWriter_fourcc(*video_codec(path))
                    writer = cv2.VideoWriter(str(tmp), fourcc, fps, (frame.shape[1], frame.shape[0]))
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
                count += 1
        finally:
            if writer is not None:
                writer.release()
    return count
