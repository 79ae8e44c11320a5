"""Predict's pictures: drawn from score 0.5, with labels that do not pile up on each other."""

from __future__ import annotations

import numpy as np
import torch

from gnrcnn.cli import build_parser
from gnrcnn.structures import Instances
from gnrcnn.visualize.draw import draw, place_labels


def test_pictures_are_drawn_from_score_0_5_by_default() -> None:
    assert build_parser().parse_args(["predict", "x.png", "--out", "o"]).score_thr == 0.5
    image = np.full((64, 64, 3), 128, np.uint8)
    masks = torch.zeros((2, 64, 64), dtype=torch.bool)
    masks[0, 5:20, 5:20] = masks[1, 30:50, 30:50] = True
    inst = Instances(torch.tensor([[5.0, 5, 20, 20], [30, 30, 50, 50]]), torch.tensor([0.9, 0.45]),
                     torch.tensor([0, 1]), masks)  # fmt: skip
    only_first = Instances(inst.boxes[:1], inst.scores[:1], inst.labels[:1], masks[:1])
    assert torch.equal(draw(image, inst, ["a", "b"]), draw(image, only_first, ["a", "b"]))
    assert not torch.equal(draw(image, inst, ["a", "b"], score_thr=0.4), draw(image, only_first, ["a", "b"]))


def test_labels_move_around_their_box_and_never_overlap() -> None:
    same = [(10.0, 20.0, 60.0, 80.0)] * 3
    spots = place_labels(same, [(30, 10)] * 3, (100, 100))
    assert spots == [(10.0, 10.0, 40.0, 20.0), (10.0, 20.0, 40.0, 30.0), (10.0, 80.0, 40.0, 90.0)]
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(40, 2, generator=g) * 150
    boxes = [tuple(v) for v in torch.cat([xy, xy + 30], 1).tolist()]
    spots = place_labels(boxes, [(40, 12)] * 40, (180, 180))
    placed = [s for s in spots if s is not None]
    assert 0 < len(placed) < 40  # crowded: some labels are left out rather than piled up
    for i, a in enumerate(placed):
        assert a[0] >= 0 and a[2] <= 180 and a[1] >= 0 and a[3] <= 180
        for b in placed[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
