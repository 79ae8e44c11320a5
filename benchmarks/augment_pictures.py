"""What the augmentations make of training images: one row per image, the seed's sample first, then
samples of the given ``augment.*`` settings (epochs 0, 1, ...), each with its boxes and masks drawn,
so that a glance shows whether boxes, masks and pixels still agree.

    PYTHONPATH=src python benchmarks/augment_pictures.py --data DATA --out docs/img/augment_samples.png \
        --set augment.lsj=true --set augment.photometric=true --set augment.rot90=true --set augment.vflip_prob=0.5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from gnrcnn import load_config
from gnrcnn.data.coco import CocoDataset
from gnrcnn.data.shapes import make_shapes
from gnrcnn.data.train_data import TrainDataset
from gnrcnn.tools.demo import CONFIG
from gnrcnn.tools.harness import add_dry_run, scratch_folder
from gnrcnn.visualize.draw import palette, save_png


def picture(sample, side: int) -> torch.Tensor:
    """The sample's image with masks and boxes, padded to side x side."""
    img = sample.image
    if len(sample.labels):
        colors = [palette(3)[i] for i in sample.labels.tolist()]
        img = draw_segmentation_masks(img, sample.masks.bool(), alpha=0.45, colors=colors)
        img = draw_bounding_boxes(img, sample.boxes, colors=colors, width=1)
    out = torch.full((3, side, side), 255, dtype=torch.uint8)
    out[:, : img.shape[1], : img.shape[2]] = img[:, :side, :side]
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="a make-shapes folder (annotations/train.json)")
    ap.add_argument("--out")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=4, help="augmented samples per image")
    add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        tmp = Path(scratch_folder())
        make_shapes(tmp, 2, 1, 64, seed=0)
        args.data, args.out, args.rows, args.epochs = str(tmp), str(tmp / "augment.png"), 1, 1
    elif not (args.data and args.out):
        ap.error("--data and --out are required")
    data = Path(args.data)
    coco = CocoDataset(data / "annotations" / "train.json", data)
    side = max(max(r.width, r.height) for r in coco.records[: args.rows])
    seed_cfg = load_config(CONFIG, [f"input.short={side}", f"input.long={side}"])
    aug_cfg = load_config(CONFIG, [f"input.short={side}", f"input.long={side}", *args.overrides])
    plain = TrainDataset(coco, seed_cfg.input)
    augmented = TrainDataset(coco, aug_cfg.input, aug_cfg.augment, seed=0)
    gap_v = torch.full((3, side, 4), 255, dtype=torch.uint8)
    rows = []
    for i in range(args.rows):
        cells = [picture(plain[(i, False, side, 0)], side)]
        cells += [picture(augmented[(i, bool(e % 2), side, e)], side) for e in range(args.epochs)]
        rows.append(torch.cat([t for c in cells for t in (c, gap_v)][:-1], dim=2))
    gap_h = torch.full((3, 4, rows[0].shape[2]), 255, dtype=torch.uint8)
    save_png(torch.cat([t for r in rows for t in (r, gap_h)][:-1], dim=1), args.out)
    print(
        f"{args.rows} images: the seed's sample, then {args.epochs} augmented ones ({' '.join(args.overrides)}) "
        f"-> {args.out}"
    )


if __name__ == "__main__":
    main()
