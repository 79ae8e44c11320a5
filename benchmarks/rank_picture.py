"""The images ``gnrcnn rank`` puts first, as a labeller would look at them: each with the model's detections
drawn (``gnrcnn predict``'s drawing, ``visualize/draw.py``) and its rank and signal value above it, side by
side.

    PYTHONPATH=src python benchmarks/rank_picture.py NEXT/ --weights RUN/model_final.pth --out docs/img/rank_top.png

``NEXT/`` is the folder ``gnrcnn rank --out`` wrote (its ``ranking.json``); the detections are predicted
again with the same weights (the ranking keeps only their count).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gnrcnn.api import load_model
from gnrcnn.data.image_io import read_image
from gnrcnn.labels.rank import rank_images, write_ranking
from gnrcnn.tools.harness import DRY_CONFIG, DRY_OVERRIDES, add_dry_run, scratch_folder
from gnrcnn.visualize.draw import draw, enlarged

MIN_SIDE = 256  # the shapes images are 128 px: drawn twice as large, so that the labels can be read
GAP = 8


def titled(picture: np.ndarray, title: str) -> np.ndarray:
    """``picture`` (H x W x 3 RGB) under a white strip holding ``title``."""
    font = ImageFont.load_default(size=16)
    strip = Image.new("RGB", (picture.shape[1], 26), "white")
    ImageDraw.Draw(strip).text((4, 4), title, fill=(0, 0, 0), font=font)
    return np.concatenate([np.asarray(strip), picture], 0)


def tile(detector, entry: dict, signal: str, score_thr: float) -> np.ndarray:
    rgb = read_image(entry["image"])
    big, inst = enlarged(rgb, detector.predict(rgb, color="rgb")[0].to("cpu"), min_side=MIN_SIDE)
    picture = draw(big, inst, score_thr=score_thr).permute(1, 2, 0).numpy()
    return titled(picture, f"rank {entry['rank']}   {signal} {entry['score']:.2f}")


def dry_ranking(root: Path) -> Path:
    """Three 64 px images ranked by a randomly initialised model: for --dry-run."""
    rng = np.random.default_rng(0)
    images = []
    for i in range(3):
        images.append(root / f"img{i}.png")
        cv2.imwrite(str(images[-1]), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    write_ranking(rank_images(load_model(DRY_CONFIG, "none", overrides=DRY_OVERRIDES), images), root, "score")
    return root


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ranking", nargs="?", help="the folder gnrcnn rank --out wrote (ranking.json)")
    ap.add_argument("--weights", help="the weights the ranking was made with")
    ap.add_argument("--out")
    ap.add_argument("--images", type=int, default=4, help="how many of the first images")
    ap.add_argument("--score-thr", type=float, default=0.25, help="detections drawn from this score on")
    add_dry_run(ap)
    args = ap.parse_args(argv)
    config, overrides = None, None
    if args.dry_run:
        tmp = Path(scratch_folder())
        args.ranking, args.weights, args.out = str(dry_ranking(tmp)), "none", str(tmp / "rank_top.png")
        config, overrides = DRY_CONFIG, DRY_OVERRIDES
    elif not (args.ranking and args.weights and args.out):
        ap.error("give the ranking folder, --weights and --out (or --dry-run)")
    ranking = json.loads((Path(args.ranking) / "ranking.json").read_text())
    detector = load_model(config, args.weights, overrides=overrides)
    tiles = [tile(detector, e, ranking["signal"], args.score_thr) for e in ranking["images"][: args.images]]
    row = np.concatenate([np.pad(t, ((0, 0), (0, GAP), (0, 0)), constant_values=255) for t in tiles], 1)
    Image.fromarray(row[:, :-GAP]).save(args.out)
    print(f"{args.out}: the first {len(tiles)} image(s) of {Path(args.ranking) / 'ranking.json'}")


if __name__ == "__main__":
    main()
