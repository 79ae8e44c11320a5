"""``gnrcnn rank``: unlabelled images in the order to label them (``labels/rank.py``)."""

from __future__ import annotations

import argparse

from . import common


def cmd_rank(args: argparse.Namespace) -> int:
    from ..data.image_io import list_images
    from ..labels.rank import rank_images, write_ranking

    images = list_images(args.images)
    detector = None if args.signal == "random" else common.load_detector(args)
    ranked = rank_images(detector, images, args.signal, args.seed, args.min_score)
    csv_path, _ = write_ranking(ranked, args.out, args.signal)
    print(f"ranked {len(ranked)} image(s) by {args.signal} -> {csv_path} (and ranking.json); label first:")
    for r in ranked[: args.show]:
        print(f"  {r.rank:>4}  {r.score:8.4f}  {r.image}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rank", help="order unlabelled images by how much labelling each is likely to help")
    common.add_model(p)
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR")
    p.add_argument("--out", required=True, help="folder for ranking.csv and ranking.json (rank, image, score)")
    p.add_argument("--signal", choices=["score", "flip", "mask", "random"], default="score",
                   help="score (default: ambiguous scores; ahead of random picks in docs/finetune.md's study), "
                   "flip (plain vs mirrored detections disagree), mask (masks unstable under the mirror), "
                   "random (a seeded shuffle, no model needed)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="the random signal's seed")
    p.add_argument("--min-score", type=float, default=0.5,
                   help="flip and mask: detections compared from this score on (default 0.5)")  # fmt: skip
    p.add_argument("--show", type=int, default=10, help="how many of the first images to print")
    p.set_defaults(func=cmd_rank)
