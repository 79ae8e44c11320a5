"""``gnrcnn check-data`` and ``gnrcnn make-shapes``: datasets checked and generated."""

from __future__ import annotations

import argparse


def cmd_check_data(args: argparse.Namespace) -> int:
    from ..data.check import report

    text, code = report(args.ann, args.data_root, decode=not args.no_decode, keep_empty=args.keep_empty)
    print(text)
    return code


def cmd_make_shapes(args: argparse.Namespace) -> int:
    from ..data.shapes import make_shapes

    paths = make_shapes(args.out, args.train, args.val, args.size, args.seed, args.classes.split(","), args.empty)
    negatives = f" (+ {args.empty} without shapes)" if args.empty else ""
    print(f"wrote {args.train} train{negatives} + {args.val} val images to {args.out}/; annotations: "
          f"{paths['train']}, {paths['val']} (file names relative to {args.out})")  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-data", help="list every problem of a COCO-format dataset (exit 1 if any)")
    p.add_argument("--data-root", required=True, help="folder the annotation file's file_names are relative to")
    p.add_argument("--ann", required=True, help="COCO instances JSON")
    p.add_argument("--no-decode", action="store_true", help="skip the full decode of every image")
    p.add_argument("--keep-empty", action="store_true", help="check as `train --keep-empty` reads the data")
    p.set_defaults(func=cmd_check_data)

    p = sub.add_parser("make-shapes", help="write a generated COCO-format dataset of coloured shapes")
    p.add_argument("--out", required=True)
    p.add_argument("--train", type=int, default=400)
    p.add_argument("--val", type=int, default=50)
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classes", default="circle,triangle,rectangle",
                   help="shapes, comma-separated: circle, triangle, rectangle, star, hexagon, cross")  # fmt: skip
    p.add_argument("--empty", type=int, default=0, help="also this many training images without shapes (negatives)")
    p.set_defaults(func=cmd_make_shapes)
