"""``gnrcnn bench``: inference and training speed; ``--runtimes``: the table of every runtime (the work is in
``tools/bench.py``)."""

from __future__ import annotations

import argparse

from ..errors import GnrcnnError
from . import common


def cmd_runtimes(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.image_io import list_images
    from ..export.int8 import calibration_images
    from ..tools import bench

    device = common.device(args.device) if args.device else "cpu"
    if not args.config and not args.weights:
        raise GnrcnnError("--runtimes: give --config NAME and/or --weights FILE (the model to benchmark)")
    if args.rounds < 1:
        raise GnrcnnError(f"--rounds {args.rounds}: give at least 1")
    known = bench.bench_runtimes.CPU_RUNTIMES + bench.bench_runtimes.GPU_RUNTIMES
    unknown = [n for n in args.only or [] if n not in known]
    if unknown:
        raise GnrcnnError(f"--only {unknown[0]!r}: not a runtime; choose from {', '.join(dict.fromkeys(known))}")
    images = list_images([args.images]) if args.images else None
    if images == []:
        raise GnrcnnError(f"--images {args.images}: no images there")
    calib = calibration_images(args.calib, args.calib_count, args.data_root) if args.calib else None
    if args.val_ann and not Path(args.val_ann).is_file():
        raise GnrcnnError(f"--val-ann {args.val_ann}: no such file")
    bench.run_runtimes(args.config, args.weights, args.overrides, args.out, images=images, rounds=args.rounds,
                       device=device, threads=args.threads, calib=calib, val_ann=args.val_ann,
                       data_root=args.data_root, memory=not args.no_memory, only=args.only)  # fmt: skip
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from ..tools import bench

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.runtimes:
        return cmd_runtimes(args)
    bench.run(common.load_detector(args), args.runs, args.train_iters, inference=not args.no_inference,
              train=not args.no_train, json_path=args.json)  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="inference img/s and training s/iter + peak memory; --runtimes: every runtime")
    common.add_model(p)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--runs", type=int, default=5, help="timed inference runs (median reported)")
    p.add_argument("--train-iters", type=int, default=3, help="timed training iterations (median reported)")
    p.add_argument("--no-train", action="store_true")
    p.add_argument("--no-inference", action="store_true")
    p.add_argument("--json", help="write the JSON result here (default: print it)")
    r = p.add_argument_group("--runtimes: which runtime to ship (PyTorch, onnxruntime, OpenVINO fp32/bf16/INT8)")
    r.add_argument("--runtimes", action="store_true",
                   help="export the model to every runtime here; time, measure and score each")  # fmt: skip
    r.add_argument("--images", help="a folder or image to time on (default: the bundled photo)")
    r.add_argument("--rounds", type=int, default=5, help="alternating timed rounds over the images")
    r.add_argument("--calib", help="images (a folder or a COCO JSON) to calibrate OpenVINO INT8 on; without it "
                   "the INT8 row is skipped")  # fmt: skip
    r.add_argument("--calib-count", type=int, default=30, help="calibration images taken from --calib")
    r.add_argument("--val-ann", help="a COCO annotation file: box and mask AP per runtime (default: agreement "
                   "with PyTorch fp32's detections)")  # fmt: skip
    r.add_argument("--data-root", help="the folder --val-ann's (and a COCO JSON --calib's) file names are relative to")
    r.add_argument("--out", default="bench", help="where bench.md, bench.json and bench.png go (default: ./bench)")
    r.add_argument("--only", nargs="+", metavar="RUNTIME", help="just these runtimes, e.g. 'pytorch fp32'")
    r.add_argument("--no-memory", action="store_true", help="skip the peak memory runs (a fresh process each)")
    p.set_defaults(func=cmd_bench)
