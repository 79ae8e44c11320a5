"""``gnrcnn analyze``: PR curves, a confusion matrix, the worst and best images, a summary."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_analyze(args: argparse.Namespace) -> int:
    from ..analysis.analyze import Options, analyze

    opts = Options(score_thr=args.score_thr, iou_thr=args.iou_thr, num_images=args.num_images,
                   data_root=args.data_root)  # fmt: skip
    analyze(args.results, args.ann, args.out, opts)
    print((Path(args.out) / "summary.txt").read_text(), end="")
    print(f"pictures: {args.out}/pr_curves.png, {args.out}/confusion_matrix.png, {args.out}/worst/, {args.out}/best/")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="pictures of a results file against its ground truth (PR, confusion, images)")
    p.add_argument("--results", required=True,
                   help="COCO results JSON: `gnrcnn eval --out`'s results.json (image ids) or `gnrcnn predict`'s "
                        "predictions.json (file names, matched to the ground truth's)")  # fmt: skip
    p.add_argument("--ann", required=True, help="COCO instances JSON (the ground truth)")
    p.add_argument("--out", required=True, help="folder for the pictures, summary.txt and analysis.json")
    p.add_argument("--data-root", help="folder the ground truth's file_names are relative to (for the pictures; "
                   "default: the paths in the results)")  # fmt: skip
    p.add_argument("--score-thr", type=float, default=0.5, help="predictions counted as made (confusion, pictures)")
    p.add_argument("--iou-thr", type=float, default=0.5, help="box IoU for a prediction to match an object")
    p.add_argument("--num-images", type=int, default=5, help="worst and best images drawn")
    p.set_defaults(func=cmd_analyze)
