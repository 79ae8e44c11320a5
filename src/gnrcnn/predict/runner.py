"""How an image goes through a detector, split in two: ``prepare`` (decode-side CPU work, safe in
worker threads) and ``run`` (the model, in the calling thread). Every caller shares them (``loop.py``).

Two choices make a runner. How the image is cut: ``DirectRunner`` sees it whole at the model's test
scale, ``tiling.TiledRunner`` cuts it into tiles at native resolution. How each piece (the image, or a
tile) is seen: ``SingleView`` once, ``tta.TtaViews`` at several scales and mirrored. Both rely only on
the detector's public interface (``preprocessor``, ``run_batch``, ``cfg``), so any detector with that
interface works; test-time augmentation needs a PyTorch model as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from ..config.schema import Config
from ..data.preprocess import Preprocessor
from ..structures import ImageMeta, Instances


class DetectorLike(Protocol):
    """What a runner needs of a detector (``Detector``, ``OnnxDetector``, ``OpenVinoDetector``)."""

    cfg: Config
    preprocessor: Preprocessor

    def run_batch(self, batch: torch.Tensor, sizes: torch.Tensor, metas: list[ImageMeta]) -> list[Instances]: ...


@dataclass
class Prepared:
    """One image made ready for the model: its resized pieces (the image, or its tiles; each as the
    views' ``count`` tensors, piece after piece) and, when pictures are drawn, the original H x W x 3
    uint8 RGB array."""

    name: str
    shape: tuple[int, int]
    tensors: list[torch.Tensor]  # (3, h, w) uint8 each
    metas: list[ImageMeta]
    image: np.ndarray | None = None
    offsets: torch.Tensor | None = None  # (T, 2) x, y of each tile in the image
    image_id: int | None = None  # the ground truth's id of the image (gnrcnn eval), carried to its records


class Views(Protocol):
    """How a piece (an image or a tile) is seen: ``load`` makes its ``count`` resized inputs (any thread),
    ``run`` turns ``count`` x n of them, piece after piece, into n results."""

    detector: DetectorLike
    count: int

    def load(self, image: np.ndarray, name: str) -> tuple[list[torch.Tensor], list[ImageMeta]]: ...

    def run(self, tensors: list[torch.Tensor], metas: list[ImageMeta]) -> list[Instances]: ...


class SingleView:
    """Each piece once, at the model's test scale: the reference's way."""

    count = 1

    def __init__(self, detector: DetectorLike) -> None:
        self.detector = detector

    def load(self, image: np.ndarray, name: str) -> tuple[list[torch.Tensor], list[ImageMeta]]:
        tensor, meta = self.detector.preprocessor.load(image)
        meta.name = name
        return [tensor], [meta]

    def run(self, tensors: list[torch.Tensor], metas: list[ImageMeta]) -> list[Instances]:
        batch, sizes = self.detector.preprocessor.batch(tensors)
        return self.detector.run_batch(batch, sizes, metas)


class Runner(Protocol):
    batch_size: int  # prepared images per ``run`` call
    views: Views

    def prepare(self, image: np.ndarray, name: str, keep_image: bool = True) -> Prepared: ...

    def run(self, items: list[Prepared]) -> list[Any]: ...  # Instances, or tiling.TiledInstances


class DirectRunner:
    """The whole image; ``batch_size`` images per model call (1 reproduces the reference exactly: a batch
    pads its images to the largest, and GroupNorm sees the padding)."""

    def __init__(self, detector: DetectorLike, batch_size: int = 1, views: Views | None = None) -> None:
        self.detector = detector
        self.batch_size = max(1, batch_size)
        self.views = views if views is not None else SingleView(detector)

    def prepare(self, image: np.ndarray, name: str, keep_image: bool = True) -> Prepared:
        tensors, metas = self.views.load(image, name)
        return Prepared(name, image.shape[:2], tensors, metas, image if keep_image else None)

    def run(self, items: list[Prepared]) -> list[Instances]:
        return self.views.run([t for p in items for t in p.tensors], [m for p in items for m in p.metas])
