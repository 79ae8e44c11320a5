"""A prediction turned into what gets written: COCO records and the annotated picture.

A tiled image's result hands over its full-resolution masks a bounded chunk at a time
(``TiledInstances.parts``), so each chunk is encoded and drawn, then freed, before the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Protocol

import numpy as np
import torch

from ..structures import Instances
from ..visualize.draw import draw, enlarge_factor, scaled


class InParts(Protocol):
    """A result whose masks come a chunk at a time (``tiling.TiledInstances``)."""

    scores: torch.Tensor

    def parts(self) -> Iterator[Instances]: ...


def in_parts(result: Instances | InParts) -> Iterator[Instances]:
    if isinstance(result, Instances):
        yield result
    else:
        yield from result.parts()


def records_and_picture(
    result: Instances | InParts,
    image: np.ndarray | None,
    score_thr: float,
    file_name: str | None = None,
    min_side: int = 512,
    image_id: int | None = None,
) -> tuple[list[dict[str, Any]], torch.Tensor | None]:
    """COCO records of every detection and, given the RGB ``image``, the picture with the detections
    scoring >= ``score_thr`` drawn ((3, H, W) uint8; an image under ``min_side`` px scaled up by a whole
    factor to reach it). Class names and category ids are the result's own. The records are keyed as
    every results file of gnrcnn: ``file_name``, and ``image_id`` where a ground truth gives one."""
    records: list[dict[str, Any]] = []
    picture = None
    f = 1 if image is None else enlarge_factor(image.shape, min_side)  # small pictures larger: legible labels
    for part in in_parts(result):
        part = part.to("cpu")
        records += replace(part, name="").to_coco(image_id, file_name)  # a file name only where one is given
        if image is not None and (picture is None or bool((part.scores >= score_thr).any())):
            canvas = image.repeat(f, 0).repeat(f, 1) if picture is None else picture.permute(1, 2, 0).numpy()
            picture = draw(canvas, scaled(part, f), score_thr=score_thr)
    return records, picture
