"""``gnrcnn rank``: the signals on hand-made detections, and the command on the quick demo's model."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gnrcnn.cli import main
from gnrcnn.labels.rank import flip_disagreement, rank_images, ranking, score_ambiguity
from gnrcnn.predict.tta import flip_instances
from gnrcnn.structures import Instances

H, W = 40, 60


def _instances(boxes: list[list[float]], scores: list[float]) -> Instances:
    masks = torch.zeros(len(boxes), H, W, dtype=torch.bool)
    for m, (x0, y0, x1, y1) in zip(masks, boxes):
        m[int(y0) : int(y1), int(x0) : int(x1)] = True
    return Instances(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(scores),
                     torch.zeros(len(boxes), dtype=torch.int64), masks, (H, W))  # fmt: skip


def test_score_ambiguity_sums_doubt_per_image() -> None:
    box = [0, 0, 5, 5]
    results = [_instances([box] * 3, [0.5, 0.99, 0.05]), _instances([], []), _instances([box], [0.75])]
    assert torch.allclose(score_ambiguity(results), torch.tensor([1.0 + 0.02 + 0.1, 0.0, 0.5]), atol=1e-6)


def test_flip_disagreement_counts_unmatched_detections_and_mask_changes() -> None:
    plain = _instances([[5, 5, 20, 20], [30, 10, 50, 30]], [0.9, 0.8])
    mirror_of = flip_instances  # the mirror image's detections are the plain ones mirrored
    same = mirror_of(plain)
    one_lost = mirror_of(replace(plain, boxes=plain.boxes[:1], scores=plain.scores[:1], labels=plain.labels[:1],
                                 masks=plain.masks[:1]))  # fmt: skip
    shrunk = same.masks.clone()
    shrunk[:, :, :] &= torch.arange(W) % 2 == 0  # half of each mask's columns
    out = flip_disagreement([plain, plain, plain], [same, one_lost, replace(same, masks=shrunk)], min_score=0.5)
    assert out[0].tolist() == [0.0, 0.0]
    assert out[1, 0] == pytest.approx(0.5) and out[1, 1] == pytest.approx(0.0)
    assert out[2, 0] == 0.0 and 0.4 < out[2, 1] < 0.6


def test_random_ranking_is_seeded_and_ranking_orders_by_value_then_name() -> None:
    images = [Path(f"im{i}.png") for i in range(6)]
    a, b, c = (rank_images(None, images, "random", seed=s) for s in (0, 0, 1))
    assert a == b and [r.image for r in a] != [r.image for r in c]
    assert sorted(r.image for r in a) == sorted(map(str, images)) and [r.rank for r in a] == list(range(1, 7))
    ranked = ranking(images[:3], torch.tensor([0.2, 0.7, 0.2]))
    assert [(r.image, r.rank) for r in ranked] == [("im1.png", 1), ("im0.png", 2), ("im2.png", 3)]
    with pytest.raises(ValueError, match="signal"):
        rank_images(None, images, "loss")


@pytest.mark.parametrize("signal", ["flip"])  # one pass predicts what every model signal reads
def test_rank_command_writes_the_ordered_list(signal: str, quick_demo, tmp_path: Path, capsys) -> None:
    val = quick_demo.out / "data" / "val"
    code = main(["rank", str(val), "--weights", str(quick_demo.model), "--out", str(tmp_path), "--signal", signal,
                 "--device", "cpu"])  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader((tmp_path / "ranking.csv").open()))
    assert [int(r["rank"]) for r in rows] == list(range(1, 9))
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and {Path(r["image"]).parent for r in rows} == {val}
    assert json.loads((tmp_path / "ranking.json").read_text())["signal"] == signal
    assert f"ranked 8 image(s) by {signal}" in capsys.readouterr().out
