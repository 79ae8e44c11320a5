"""How an image goes through a detector, split in two: ``prepare`` (decode-side CPU work, safe in
worker threads) and ``run`` (the model, in the calling thread). Folders and videos share them.

``DirectRunner`` sees each image whole at the model's test scale; ``tiling.TiledRunner`` cuts it
into tiles at native resolution. Both rely only on the detector's public interface
(``preprocessor``, ``run_batch``, ``cfg``), so any detector with that interface works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from ..structures import ImageMeta, Instances

if TYPE_CHECKING:
    from .detector import Detector


@dataclass
class Prepared:
    """One image made ready for the model: its resized pieces (the image, or its tiles) and, when
    pictures are drawn, the original H x W x 3 uint8 RGB array."""

    name: str
    shape: tuple[int, int]
    tensors: list[torch.Tensor]  # (3, h, w) uint8 each
    metas: list[ImageMeta]
    image: np.ndarray | None = None
    offsets: torch.Tensor | None = None  # (T, 2) x, y of each tile in the image


class Runner(Protocol):
    batch_size: int  # prepared images per ``run`` call

    def prepare(self, image: np.ndarray, name: str, keep_image: bool = True) -> Prepared: ...

    def run(self, items: list[Prepared]) -> list[Any]: ...  # Instances, or tiling.TiledInstances


class DirectRunner:
    """The whole image at the model's test scale; ``batch_size`` images per model call (1 reproduces
    the reference exactly: a batch pads its images to the largest, and GroupNorm sees the padding)."""

    def __init__(self, detector: Detector, batch_size: int = 1) -> None:
        self.detector = detector
        self.batch_size = max(1, batch_size)

    def prepare(self, image: np.ndarray, name: str, keep_image: bool = True) -> Prepared:
        tensor, meta = self.detector.preprocessor.load(image)
        meta.name = name
        return Prepared(name, image.shape[:2], [tensor], [meta], image if keep_image else None)

    def run(self, items: list[Prepared]) -> list[Instances]:
        batch, sizes = self.detector.preprocessor.batch([p.tensors[0] for p in items])
        return self.detector.run_batch(batch, sizes, [p.metas[0] for p in items])
