"""``gnrcnn bench``: inference and training speed (the work is in ``tools/bench.py``)."""

from __future__ import annotations

import argparse

from . import common


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from ..tools import bench

    if args.threads:
        torch.set_num_threads(args.threads)
    bench.run(common.load_detector(args), args.runs, args.train_iters, inference=not args.no_inference,
              train=not args.no_train, json_path=args.json)  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="inference img/s and training s/iter + peak memory")
    common.add_model(p)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--runs", type=int, default=5, help="timed inference runs (median reported)")
    p.add_argument("--train-iters", type=int, default=3, help="timed training iterations (median reported)")
    p.add_argument("--no-train", action="store_true")
    p.add_argument("--no-inference", action="store_true")
    p.add_argument("--json", help="write the JSON result here (default: print it)")
    p.set_defaults(func=cmd_bench)
