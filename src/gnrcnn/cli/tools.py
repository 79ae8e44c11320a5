"""``gnrcnn zoo``, ``convert``, ``check-data``, ``make-shapes``, ``bench`` and ``demo``."""

from __future__ import annotations

import argparse

from . import common


def cmd_zoo(args: argparse.Namespace) -> int:
    from .. import zoo

    print(zoo.table())
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from ..tools.convert import convert

    print(convert(args.input, args.output, args.config, args.overrides))
    return 0


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


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from ..fileio import write_text_atomic
    from ..tools import bench

    if args.threads:
        torch.set_num_threads(args.threads)
    det = common.load_detector(args)
    inf = bench.inference_speed(det, args.runs) if not args.no_inference else None
    train = bench.training_speed(det.cfg, str(det.device), det.amp, args.train_iters) if not args.no_train else None
    print(bench.report(det.cfg.name, str(det.device), det.amp, inf, train))
    out = bench.to_json(det.cfg.name, str(det.device), det.amp, inf, train)
    if args.json:
        write_text_atomic(out + "\n", args.json, "benchmark results")
    else:
        print(out)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..tools import demo

    demo.run(args.out, quick=args.quick, device=common.device(args.device))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("zoo", help="the published models: AP, memory, speed, checkpoints").set_defaults(func=cmd_zoo)

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

    p = sub.add_parser("bench", help="inference img/s and training s/iter + peak memory")
    common.add_model(p)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--runs", type=int, default=5, help="timed inference runs (median reported)")
    p.add_argument("--train-iters", type=int, default=3, help="timed training iterations (median reported)")
    p.add_argument("--no-train", action="store_true")
    p.add_argument("--no-inference", action="store_true")
    p.add_argument("--json", help="write the JSON result here (default: print it)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="the end-to-end demo (what `make demo` runs)")
    p.add_argument("--out", default="results/demo")
    p.add_argument("--quick", action="store_true", help="a reduced run (small images, few iterations)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("convert", help="write any supported checkpoint in gnrcnn's format")
    p.add_argument("input", help="a weights file, an http(s) URL or a zoo name")
    p.add_argument("output")
    common.add_config(p)
    p.set_defaults(func=cmd_convert)
