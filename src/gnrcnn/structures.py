"""Plain records passed between reading, the model and the outputs. Nothing here computes (``to_coco``
converts, in ``coco_results.py``).

Shapes: boxes xyxy float32; N images; G_i ground-truth instances of image i.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import torch

from .errors import GnrcnnError


@dataclass
class ImageMeta:
    """Where an image came from and how it was resized. Shapes are (height, width)."""

    ori_shape: tuple[int, int]
    img_shape: tuple[int, int]
    scale_factor: tuple[float, float]  # (new_w / w, new_h / h)
    name: str = ""
    image_id: int = -1


@dataclass
class Instances:
    """Detections of one image, in original-image pixels.

    boxes (n, 4) xyxy float32; scores (n,); labels (n,) int64 in 0..K-1; masks (n, H, W) bool.
    ``class_names[k]`` and ``category_ids[k]`` (the dataset's COCO id) name label k; a ``Detector``
    fills both from its config.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    image_shape: tuple[int, int] = (0, 0)
    name: str = ""
    class_names: tuple[str, ...] = ()
    category_ids: tuple[int, ...] = ()

    def __len__(self) -> int:
        return int(self.scores.numel())

    @property
    def label_names(self) -> list[str]:
        """The class name of each detection (``str(label)`` where the names are unknown)."""
        names = self.class_names
        return [names[i] if i < len(names) else str(i) for i in self.labels.tolist()]

    def to_coco(self, image_id: int | None = None, file_name: str | None = None) -> list[dict[str, Any]]:
        """COCO results records, one per detection: ``bbox`` [x, y, w, h], ``score``, ``category_id``
        and an RLE ``segmentation``; ``file_name`` defaults to ``name`` when that is set."""
        from .coco_results import coco_records

        if not self.category_ids:
            raise GnrcnnError("these Instances carry no category_ids (a Detector's results do): set them to "
                              "the dataset's COCO category id of each label")  # fmt: skip
        return coco_records(self.boxes, self.scores, self.labels, self.masks, self.category_ids, image_id,
                            file_name if file_name is not None else (self.name or None))  # fmt: skip

    def to(self, device: torch.device | str) -> Instances:
        """A copy on ``device``."""
        return replace(self, boxes=self.boxes.to(device), scores=self.scores.to(device),
                       labels=self.labels.to(device), masks=self.masks.to(device))  # fmt: skip


@dataclass
class Targets:
    """Ground truth of a training batch, in resized-image pixels."""

    boxes: list[torch.Tensor]  # per image (G_i, 4)
    labels: list[torch.Tensor]  # per image (G_i,) in 0..K-1
    masks: torch.Tensor  # (sum G_i, Hp, Wp) uint8, zero-padded like the images
    pad_shapes: torch.Tensor  # (N, 2) each image's own size padded to the size divisor

    def to(self, device: torch.device, non_blocking: bool = False) -> Targets:
        """A copy on ``device``."""
        return Targets(
            [b.to(device, non_blocking=non_blocking) for b in self.boxes],
            [lab.to(device, non_blocking=non_blocking) for lab in self.labels],
            self.masks.to(device, non_blocking=non_blocking),
            self.pad_shapes.to(device, non_blocking=non_blocking),
        )

    def padded(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Boxes (N, G, 4), labels (N, G) and valid (N, G), padded to the largest G_i of the batch."""
        n, g = len(self.boxes), max((len(b) for b in self.boxes), default=0)
        device = self.masks.device
        boxes = torch.zeros((n, g, 4), device=device)
        labels = torch.zeros((n, g), dtype=torch.int64, device=device)
        valid = torch.zeros((n, g), dtype=torch.bool, device=device)
        for i, (b, lab) in enumerate(zip(self.boxes, self.labels)):  # N is 1-8 images: a copy each, no per-box work
            boxes[i, : len(b)], labels[i, : len(b)], valid[i, : len(b)] = b, lab, True
        return boxes, labels, valid


class Proposals(NamedTuple):
    """RPN output for a batch, flat: boxes (R, 4) in resized-image pixels, scores (R,), image_ids (R,),
    sorted by image, then by decreasing score."""

    boxes: torch.Tensor
    scores: torch.Tensor
    image_ids: torch.Tensor


class Detections(NamedTuple):
    """RoI-head output for a batch, flat: boxes (D, 4) in resized-image pixels, scores (D,), labels (D,)
    in 0..K-1, image_ids (D,), sorted by image, then by decreasing score."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    image_ids: torch.Tensor
