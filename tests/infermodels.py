"""Detectors for the inference tests: a tiny real model that always detects something, and a stub
that segments pure-colour shapes on black exactly, for tests where the behaviour is the merging.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from gnrcnn import load_model
from gnrcnn.config.loader import load_config
from gnrcnn.data.preprocess import Preprocessor
from gnrcnn.structures import ImageMeta, Instances
from gnrcnn.weights import gnrcnn_checkpoint

TINY = Path(__file__).parent / "assets" / "tiny.yaml"
SHAPES = ["data.class_names=[circle, triangle, rectangle]", "data.category_ids=[1, 2, 3]"]


def busy_tiny_checkpoint(path: Path, max_detections: int = 6) -> Path:
    """A randomly initialised tiny model whose classifier prefers every class to the background, so
    that each image gets ``max_detections`` detections with masks: plumbing, not accuracy."""
    det = load_model(TINY, "none", overrides=[*SHAPES, f"model.roi.max_detections={max_detections}"])
    head = next(m for name, m in det.model.named_modules() if name.endswith("cls_score"))
    with torch.no_grad():
        head.bias[-1] = -8.0
    torch.save(gnrcnn_checkpoint(det.model, det.cfg.to_dict(), {"test": "busy tiny"}), path)
    return path


# Pure colours of the stub's classes: red circles, green triangles, blue rectangles.
COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)


class ColourStub:
    """The public interface of ``Detector`` over a 'model' that finds each connected blob of one of
    ``COLOURS`` in the (resized) image: its box, class and mask, score 0.9. No learning involved, so
    a test sees exactly what tiling, mapping back and merging do to perfect detections."""

    def __init__(self, short: int = 128, long: int = 128) -> None:
        self.cfg = load_config(str(TINY), [*SHAPES, f"input.short={short}", f"input.long={long}"])
        self.device = torch.device("cpu")
        self.preprocessor = Preprocessor(self.cfg.input, self.device)
        self.class_names = list(self.cfg.data.class_names)
        self.calls = 0

    def run_batch(self, batch: torch.Tensor, sizes: torch.Tensor, metas: list[ImageMeta]) -> list[Instances]:
        self.calls += 1
        mean = torch.tensor(self.cfg.input.mean).view(1, 3, 1, 1)
        pixels = (batch * torch.tensor(self.cfg.input.std).view(1, 3, 1, 1) + mean).round().clamp(0, 255)
        pixels = pixels.flip(1).to(torch.uint8).permute(0, 2, 3, 1).numpy()  # BGR network input -> RGB
        return [self._blobs(img[: int(s[0]), : int(s[1])], m) for img, s, m in zip(pixels, sizes, metas)]

    def _blobs(self, img: np.ndarray, meta: ImageMeta) -> Instances:
        h, w = meta.ori_shape
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST)
        boxes, labels, masks = [], [], []
        for k, colour in enumerate(COLOURS):
            n, comp = cv2.connectedComponents((np.abs(img.astype(int) - colour).sum(2) < 60).astype(np.uint8))
            for c in range(1, n):
                m = comp == c
                if m.sum() < 16:  # specks of a lossy codec's ringing, not shapes
                    continue
                ys, xs = np.nonzero(m)
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                labels.append(k)
                masks.append(m)
        n = len(boxes)
        masks_t = torch.from_numpy(np.array(masks, bool).reshape(n, h, w))
        return Instances(
            torch.tensor(boxes, dtype=torch.float32).reshape(n, 4),
            torch.full((n,), 0.9),
            torch.tensor(labels, dtype=torch.int64),
            masks_t,
            (h, w),
            meta.name,
            tuple(self.class_names),
            tuple(self.cfg.data.category_ids),
        )  # named, as a Detector's


def draw_colour_shapes(height: int, width: int, shapes: list[tuple[int, tuple[int, int, int, int]]]) -> np.ndarray:
    """A black RGB image with (class, xyxy) filled rectangles (class 0 drawn as an ellipse)."""
    img = np.zeros((height, width, 3), np.uint8)
    for k, (x0, y0, x1, y1) in shapes:
        if k == 0:
            cv2.ellipse(img, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360,
                        COLOURS[k].tolist(), -1)  # fmt: skip
        else:
            img[y0:y1, x0:x1] = COLOURS[k]
    return img
