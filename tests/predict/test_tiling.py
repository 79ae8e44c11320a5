"""Tiled prediction: the tile grid, the merge rule across tile borders, detections mapped back with
full-resolution masks (a colour-blob stub stands in for the model), and the CLI flags."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import cv2
import pytest
import torch
from pycocotools import mask as mask_utils

from gnrcnn.cli import main
from gnrcnn.config.schema import PredictConfig
from gnrcnn.data.scenes import write_video
from gnrcnn.modeling.box_ops import pairwise_iou
from gnrcnn.predict.loop import make_runner
from gnrcnn.predict.tile_merge import components, merge_tiles
from gnrcnn.predict.tiling import TiledRunner, tile_grid
from gnrcnn.predict.video import VideoOptions, predict_video
from infermodels import ColourStub, busy_tiny_checkpoint, draw_colour_shapes


@pytest.mark.parametrize("h, w, size, overlap", [(300, 400, 128, 0.25), (700, 1000, 224, 0.2), (100, 90, 128, 0.3),
                                                 (128, 500, 128, 0.0), (1000, 257, 256, 0.5)])  # fmt: skip
def test_tile_grid_covers_the_image_with_equal_overlapping_tiles(h: int, w: int, size: int, overlap: float) -> None:
    rects = tile_grid(h, w, size, overlap)
    covered = torch.zeros(h, w, dtype=torch.int32)
    for x0, y0, x1, y1 in rects.tolist():
        covered[y0:y1, x0:x1] += 1
    assert bool((covered > 0).all())
    sizes = rects[:, 2:] - rects[:, :2]
    assert bool((sizes == sizes[0]).all()) and sizes[0].tolist() == [min(size, w), min(size, h)]
    assert rects[:, :2].min() >= 0 and rects[:, 2].max() == w and rects[:, 3].max() == h
    for axis, length in ((0, w), (1, h)):  # neighbours overlap by at least the fraction asked for
        starts = sorted(set(rects[:, axis].tolist()))
        steps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(min(size, length) - s >= round(overlap * size) - 1 for s in steps)


def test_components_join_chains() -> None:
    i, j = torch.tensor([0, 2, 3, 6]), torch.tensor([1, 3, 4, 5])
    assert components(7, i, j).tolist() == [0, 0, 2, 2, 2, 5, 5]


def test_merge_rule_on_handmade_detections() -> None:
    # Two tiles side by side, x 0..100 and 60..160, both seeing x 60..100 (image 160 x 100).
    rects = torch.tensor([[0, 0, 100, 100], [60, 0, 160, 100]])
    boxes = torch.tensor([
        [65., 10, 85, 30], [65, 10, 85, 31],    # A, class 0: whole in both tiles -> the better one
        [40, 40, 70, 60], [60, 40, 70, 60],     # B, class 1: whole in tile 0, cut by tile 1's left border
        [10, 70, 100, 90], [60, 70, 150, 90],   # C, class 2: wider than the overlap, cut in both -> union
        [80, 5, 90, 9], [80, 5, 90, 9],         # D: one box, two classes -> both kept
    ])  # fmt: skip
    tiles = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    scores = torch.tensor([0.8, 0.9, 0.95, 0.7, 0.6, 0.75, 0.5, 0.5])
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
    merged = merge_tiles(boxes, scores, labels, tiles, rects, (100, 160), nms_iou=0.5)
    got = sorted(zip(merged.labels.tolist(), merged.boxes.tolist(), merged.scores.tolist()))
    assert [(lab, b) for lab, b, _ in got] == [
        (0, [65.0, 10.0, 85.0, 31.0]), (0, [80.0, 5.0, 90.0, 9.0]), (1, [40.0, 40.0, 70.0, 60.0]),
        (1, [80.0, 5.0, 90.0, 9.0]), (2, [10.0, 70.0, 150.0, 90.0]),
    ]  # fmt: skip
    assert [s for lab, _, s in got] == pytest.approx([0.9, 0.5, 0.95, 0.5, 0.75])
    assert merged.scores.tolist() == sorted(merged.scores.tolist(), reverse=True)
    # The fragment of B overlaps the whole B with IoU 1/3 only: NMS alone would have kept both.
    assert float(pairwise_iou(boxes[2:3], boxes[3:4])) < 0.5
    # Each tile detection's mask goes to the merged detection it became part of; dropped ones nowhere.
    tgt = merged.target.tolist()
    assert tgt[0] == -1 and tgt[3] == -1 and tgt[4] == tgt[5] >= 0 and len(set(tgt) - {-1}) == 5


SHAPES = [
    (2, (10, 10, 40, 30)),      # inside one tile
    (0, (100, 40, 126, 66)),    # across the first vertical border, inside the overlap band
    (1, (170, 100, 200, 125)),  # across a vertical and a horizontal border
    (2, (60, 200, 260, 240)),   # wider than the overlap: never whole in any tile
    (1, (240, 20, 262, 44)),    # two neighbours of different classes near a border
    (0, (264, 20, 290, 46)),
    (2, (350, 250, 390, 290)),  # at the image corner (image edges do not cut)
    (0, (280, 150, 300, 168)),
]  # fmt: skip


def test_tiled_detections_equal_native_resolution_ones() -> None:
    image = draw_colour_shapes(300, 400, SHAPES)
    native = ColourStub(short=300, long=400)  # sees the whole image at scale 1: the ground truth
    truth = make_runner(native).run([make_runner(native).prepare(image, "mosaic")])[0]
    assert len(truth) == len(SHAPES)
    stub = ColourStub(short=128, long=128)
    runner = TiledRunner(stub, PredictConfig(tile=128, tile_overlap=0.25, tile_batch=5))
    prepared = runner.prepare(image, "mosaic")
    assert len(prepared.tensors) == 12 and stub.calls == 0
    result = runner.run([prepared])[0]
    assert stub.calls == math.ceil(12 / 5)
    tiled = result.dense()
    # Handed over in chunks of bounded memory (here 2 masks of 300 x 400 at a time), the masks are the same.
    parts = list(result.parts(budget=2 * 300 * 400))
    assert [len(p) for p in parts] == [2, 2, 2, 2] and torch.equal(torch.cat([p.masks for p in parts]), tiled.masks)
    assert tiled.masks.shape == (len(SHAPES), 300, 400) and tiled.image_shape == (300, 400)
    iou = pairwise_iou(tiled.boxes, truth.boxes)
    best = iou.argmax(1)
    assert sorted(best.tolist()) == list(range(len(SHAPES)))  # each object exactly once
    assert bool((iou.max(1).values > 0.999).all())
    assert torch.equal(tiled.labels, truth.labels[best])
    assert torch.equal(tiled.masks, truth.masks[best])  # full resolution, fragments joined exactly
    # Untiled at the stub's 128-px scale the same image loses detail: the tiles are what keep it exact.
    small = make_runner(stub).run([make_runner(stub).prepare(image, "mosaic")])[0]
    assert small.masks.shape[1:] == (300, 400) and not torch.equal(small.masks.sum((1, 2)).sort().values,
                                                                    truth.masks.sum((1, 2)).sort().values)  # fmt: skip


def test_cli_tiles_with_a_real_model(tmp_path: Path) -> None:
    ckpt = busy_tiny_checkpoint(tmp_path / "tiny.pth")
    image = draw_colour_shapes(200, 300, SHAPES[:3])
    cv2.imwrite(str(tmp_path / "big.png"), image[..., ::-1])
    out = tmp_path / "out"
    args = ["predict", "--weights", str(ckpt), str(tmp_path / "big.png"), "--out", str(out), "--tile", "128",
            "--overlap", "0.3", "--set", "predict.tile_batch=3"]  # fmt: skip
    assert main(args) == 0
    records = json.loads((out / "predictions.json").read_text())
    assert records and all(r["segmentation"]["size"] == [200, 300] for r in records)
    assert mask_utils.decode(records[0]["segmentation"]).shape == (200, 300)
    assert cv2.imread(str(out / "big.png")).shape == (400, 600, 3)  # small pictures drawn 2x: >= 512 px


def test_bad_tile_settings_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), draw_colour_shapes(64, 64, SHAPES[:1]))
    # The flags are overrides of the predict keys, checked once with the config: the message names both.
    cases = [(["--overlap", "0.95"], "'predict.tile_overlap' (--overlap) 0.95: expected a fraction"),
             (["--tile", "8"], "(--tile) 8:"), (["--set", "predict.tile_batch=0"], "predict.tile_batch"),
             (["--tta", "--set", "predict.tta_scales=[]"], "predict.tta_scales")]  # fmt: skip
    for flags, needle in cases:
        code = main(["predict", "--config", "tests/assets/tiny.yaml", "--weights", "none", str(tmp_path / "a.png"),
                     "--out", str(tmp_path / "o"), *flags])  # fmt: skip
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert code != 0 and len(err) == 1 and needle in err[0], err


def test_video_frames_in_tiles(tmp_path: Path) -> None:
    """Tiling applies to video frames too: every frame's shapes once each, full-frame coordinates."""
    frames = [draw_colour_shapes(300, 400, [(k, (x0 + 6 * t, y0, x1 + 6 * t, y1)) for k, (x0, y0, x1, y1) in SHAPES])
              for t in range(3)]  # fmt: skip
    write_video(iter(frames), tmp_path / "clip.avi")  # MJPEG: near-lossless on flat colours
    stub = ColourStub(short=128, long=128)
    runner = TiledRunner(stub, PredictConfig(tile=128, tile_overlap=0.25))
    summary = predict_video(runner, tmp_path / "clip.avi", tmp_path / "out", VideoOptions())
    assert summary.frames == 3 and not summary.error
    lines = [json.loads(line) for line in (tmp_path / "out" / "clip.jsonl").read_text().splitlines()]
    for t, line in enumerate(lines):
        boxes = torch.tensor([d["bbox"] for d in line["detections"]])
        boxes[:, 2:] += boxes[:, :2]
        truth = torch.tensor([[x0 + 6 * t, y0, x1 + 6 * t, y1] for _, (x0, y0, x1, y1) in SHAPES], dtype=torch.float32)
        assert len(boxes) == len(SHAPES) and bool((pairwise_iou(boxes.float(), truth).max(0).values > 0.8).all())
