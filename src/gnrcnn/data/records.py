"""One image of a COCO-format dataset as gnrcnn reads it: its file, size and usable annotations."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ImageRecord:
    image_id: int
    file_name: str
    path: Path
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # (G, 4) xyxy
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))  # (G,) 0..K-1
    segms: list[Any] = field(default_factory=list)  # per instance: polygons (list of lists) or an RLE dict
    ann_ids: list[int] = field(default_factory=list)
