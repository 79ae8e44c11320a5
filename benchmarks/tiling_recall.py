"""Tiled vs untiled prediction on a large mosaic of small shapes: recall, objects counted twice,
time, and a picture of both.

    python benchmarks/tiling_recall.py [--weights results/demo/train/model_final.pth] [--size 3000 2000]
        [--tile 224] [--overlap 0.25] [--picture docs/img/tiling.png]

The mosaic (``gnrcnn.data.scenes.make_mosaic``) holds one demo shape per 120-px cell, 32-80 px
across like the demo's training shapes, placed at random in its cell, so many lie across tile
borders. Untiled, the demo model sees the whole image at its 224-px test scale; tiled, it sees
224-px tiles at native resolution. Three ways are compared: untiled, tiled with class-wise NMS
across tiles only, and tiled with the border rule (``gnrcnn.predict.tile_merge``).

Scores: a detection counts from score 0.5. Recall: ground-truth shapes matched by a detection of
their class with box IoU >= 0.5 (greedy by score, one detection per shape). Counted twice: each
detection lying on a shape (>= 70% of its box on the shape's box, the shape it overlaps most) is
counted for that shape and its class; every count beyond one is a duplicate (a second whole
detection or a piece of the shape cut by a tile border). One shape detected as two classes is
what the model's class-wise NMS leaves, tiled or not, and is not counted.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from gnrcnn import load_model
from gnrcnn.config.schema import PredictConfig
from gnrcnn.data.scenes import make_mosaic
from gnrcnn.modeling.box_ops import pairwise_iou
from gnrcnn.predict.loop import make_runner
from gnrcnn.predict.tiling import TiledRunner, tile_grid
from gnrcnn.structures import Instances
from gnrcnn.tools.harness import DRY_CONFIG, DRY_OVERRIDES, add_dry_run, scratch_folder
from gnrcnn.visualize.draw import draw, save_png

THR = 0.5


def recall(boxes: torch.Tensor, labels: torch.Tensor, gt: torch.Tensor, gt_labels: torch.Tensor) -> float:
    iou = pairwise_iou(boxes, gt) * (labels[:, None] == gt_labels[None, :])
    taken = torch.zeros(len(gt), dtype=torch.bool)
    for row in iou:  # detections by decreasing score; a benchmark, not a hot path
        row = row.masked_fill(taken, 0)
        if len(row) and row.max() >= 0.5:
            taken[row.argmax()] = True
    return float(taken.float().mean())


def counted_twice(boxes: torch.Tensor, labels: torch.Tensor, gt: torch.Tensor, classes: int) -> tuple[int, int]:
    """(duplicates, detections on no shape): a detection lies on the shape its box overlaps most if
    >= 70% of its box is on that shape's box; each shape and class counts one, the rest are duplicates.
    (One shape detected as two classes is the model's class-wise NMS, tiled or not: not counted.)"""
    if len(boxes) == 0:
        return 0, 0
    x0, y0 = torch.maximum(boxes[:, None, 0], gt[None, :, 0]), torch.maximum(boxes[:, None, 1], gt[None, :, 1])
    x1, y1 = torch.minimum(boxes[:, None, 2], gt[None, :, 2]), torch.minimum(boxes[:, None, 3], gt[None, :, 3])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    on = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0) / area[:, None]
    best = pairwise_iou(boxes, gt).argmax(1)
    lying = on.gather(1, best[:, None]).squeeze(1) >= 0.7
    counts = torch.bincount((best * classes + labels)[lying], minlength=len(gt) * classes)
    return int((counts - 1).clamp(min=0).sum()), int((~lying).sum())


def crop(inst: Instances, x0: int, y0: int, w: int, h: int) -> Instances:
    keep = (inst.boxes[:, 2] > x0) & (inst.boxes[:, 0] < x0 + w) & (inst.boxes[:, 3] > y0) & (inst.boxes[:, 1] < y0 + h)
    boxes = inst.boxes[keep] - torch.tensor([x0, y0, x0, y0], dtype=inst.boxes.dtype)
    boxes = boxes.clamp(min=0).minimum(torch.tensor([w, h, w, h], dtype=boxes.dtype))
    masks = inst.masks[keep][:, y0 : y0 + h, x0 : x0 + w]
    return Instances(boxes, inst.scores[keep], inst.labels[keep], masks, (h, w))


def panel(image: np.ndarray, inst: Instances, names: list[str], title: str, grid: torch.Tensor | None,
          at: tuple[int, int, int, int]) -> np.ndarray:  # fmt: skip
    x0, y0, w, h = at
    out = draw(np.ascontiguousarray(image[y0 : y0 + h, x0 : x0 + w]), crop(inst, *at), names, THR)
    out = np.ascontiguousarray(out.permute(1, 2, 0).numpy())
    for rx0, ry0, rx1, ry1 in [] if grid is None else grid.tolist():
        cv2.rectangle(out, (rx0 - x0, ry0 - y0), (rx1 - x0 - 1, ry1 - y0 - 1), (255, 255, 255), 1)
    cv2.putText(out, title, (8, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 4)
    cv2.putText(out, title, (8, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="results/demo/train/model_final.pth")
    ap.add_argument("--size", type=int, nargs=2, default=[3000, 2000], metavar=("W", "H"))
    ap.add_argument("--tile", type=int, default=224)
    ap.add_argument("--overlap", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--picture", default="docs/img/tiling.png")
    add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        args.size, args.tile, args.picture = [256, 160], 48, scratch_folder() + "/tiling.png"
        det = load_model(DRY_CONFIG, "none", overrides=DRY_OVERRIDES)
    else:
        det = load_model(weights=args.weights)
    m = make_mosaic(args.size[1], args.size[0], seed=args.seed)
    gt, gt_labels = torch.from_numpy(m.boxes), torch.from_numpy(m.labels)
    grid = tile_grid(args.size[1], args.size[0], args.tile, args.overlap)
    inside = ((gt[:, None, :2] >= grid[None, :, :2]) & (gt[:, None, 2:] <= grid[None, :, 2:])).all(2)
    touched = ((gt[:, None, :2] < grid[None, :, 2:]) & (gt[:, None, 2:] > grid[None, :, :2])).all(2)
    print(f"mosaic {args.size[0]} x {args.size[1]}: {len(gt)} shapes, {int((touched & ~inside).any(1).sum())} cut by "
          f"the border of some tile; {len(grid)} tiles of {args.tile} px, overlap {args.overlap}\n")  # fmt: skip
    settings = PredictConfig(tile=args.tile, tile_overlap=args.overlap, tile_batch=4)
    ways = [("untiled", make_runner(det)),
            ("tiled, NMS across tiles only", TiledRunner(det, settings, border_rule=False)),
            ("tiled, NMS + border rule", TiledRunner(det, settings))]  # fmt: skip
    print("| prediction | detections >= 0.5 | recall (IoU 0.5) | shapes counted twice | on no shape | seconds |")
    print("|---|---|---|---|---|---|")
    shown = {}
    at = (args.tile * 3 - 40, args.tile * 2 - 40, 3 * args.tile, 2 * args.tile)  # the picture's crop: x, y, w, h
    for name, runner in ways:
        start = time.perf_counter()
        with torch.inference_mode():
            result = runner.run([runner.prepare(m.image, "mosaic")])[0]
        seconds = time.perf_counter() - start
        keep = result.scores >= THR
        boxes, labels = result.boxes[keep].cpu(), result.labels[keep].cpu()
        dup, stray = counted_twice(boxes, labels, gt, len(det.class_names))
        print(f"| {name} | {int(keep.sum())} | {recall(boxes, labels, gt, gt_labels):.3f} | {dup} | {stray} | "
              f"{seconds:.1f} |", flush=True)  # fmt: skip
        if not isinstance(result, Instances):  # full-resolution masks for the picture's crop only
            x0, y0, w, h = at
            b = result.boxes
            inside = (b[:, 2] > x0) & (b[:, 0] < x0 + w) & (b[:, 3] > y0) & (b[:, 1] < y0 + h)
            result = result.dense(torch.nonzero(keep & inside).squeeze(1))
        shown[name] = result
    left = panel(m.image, shown["untiled"], det.class_names, "untiled", None, at)
    right = panel(m.image, shown["tiled, NMS + border rule"], det.class_names, "tiled", grid, at)
    picture = np.concatenate([left, np.full((left.shape[0], 8, 3), 255, np.uint8), right], 1)
    save_png(torch.from_numpy(picture).permute(2, 0, 1), args.picture)
    print(f"\npicture: {args.picture} (a {at[2]} x {at[3]} crop at {at[0]}, {at[1]}; tile borders in white)")


if __name__ == "__main__":
    main()
