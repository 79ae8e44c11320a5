"""Plain records passed between preprocessing, the model and the outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ImageMeta:
    """Where an image came from and how it was resized. Shapes are (height, width)."""

    ori_shape: tuple[int, int]
    img_shape: tuple[int, int]
    scale_factor: tuple[float, float]  # (new_w / w, new_h / h)
    name: str = ""
    image_id: int = -1
    flipped: bool = False


@dataclass
class Instances:
    """Detections of one image, in original-image pixels.

    boxes (n, 4) xyxy float32; scores (n,); labels (n,) int64 in 0..K-1; masks (n, H, W) bool.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    image_shape: tuple[int, int] = (0, 0)
    name: str = ""
    extras: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.scores.numel())

    def to(self, device: torch.device | str) -> Instances:
        return Instances(
            self.boxes.to(device),
            self.scores.to(device),
            self.labels.to(device),
            self.masks.to(device),
            self.image_shape,
            self.name,
            self.extras,
        )
