"""The pictures ``gnrcnn predict`` draws, with per-class NMS (the seed's) and with class-agnostic NMS,
side by side: one row per image, drawn at the default threshold of 0.5.

    PYTHONPATH=src python benchmarks/predict_pictures.py --weights results/augment_ap/baseline_seed0/model_final.pth \
        --images results/augment_ap/pictures_data/val --out docs/img/predict_nms.png

Prints, per image, how many drawn detections each NMS keeps and how many objects are reported as
two classes at once (pairs of drawn detections of different classes with box IoU > 0.5).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torchvision.ops import box_iou

from gnrcnn import load_model
from gnrcnn.data.image_io import list_images, read_image
from gnrcnn.visualize.draw import draw, save_png


def doubles(inst, thr: float) -> int:
    keep = inst.scores >= thr
    b, lab = inst.boxes[keep], inst.labels[keep]
    iou = torch.triu(box_iou(b, b), diagonal=1)
    return int(((iou > 0.5) & (lab[:, None] != lab[None])).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--images", nargs="+", required=True)
    ap.add_argument("--out", required=True, help="the side-by-side PNG")
    ap.add_argument("--n", type=int, default=4, help="images (rows)")
    ap.add_argument("--score-thr", type=float, default=0.5)
    args = ap.parse_args()
    paths = list_images(args.images)[: args.n]
    per_class = load_model(weights=args.weights)
    agnostic = load_model(weights=args.weights, overrides=["model.roi.class_agnostic_nms=true"])
    rows = []
    print(f"{'image':<16} {'drawn per-class':>15} {'two-class objects':>17} {'drawn agnostic':>14} {'two-class':>9}")
    for path in paths:
        image = read_image(path)
        a, b = (d.predict(image, color="rgb")[0].to("cpu") for d in (per_class, agnostic))
        pictures = [draw(image, a, per_class.class_names, args.score_thr),
                    draw(image, b, agnostic.class_names, args.score_thr)]  # fmt: skip
        gap = torch.full((3, image.shape[0], 6), 255, dtype=torch.uint8)
        rows.append(torch.cat([pictures[0], gap, pictures[1]], dim=2))
        t = args.score_thr
        n_a, n_b = int((a.scores >= t).sum()), int((b.scores >= t).sum())
        print(f"{Path(path).name:<16} {n_a:>15} {doubles(a, t):>17} {n_b:>14} {doubles(b, t):>9}")
    gap = torch.full((3, 6, rows[0].shape[2]), 255, dtype=torch.uint8)
    grid = torch.cat([t for r in rows for t in (r, gap)][:-1], dim=1)
    save_png(grid, args.out)
    print(f"left: per-class NMS, right: class-agnostic NMS -> {args.out}")


if __name__ == "__main__":
    main()
