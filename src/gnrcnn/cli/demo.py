"""``gnrcnn demo``: the end-to-end demo (``tools/demo.py``)."""

from __future__ import annotations

import argparse

from . import common


def cmd_demo(args: argparse.Namespace) -> int:
    from ..tools import demo

    demo.run(args.out, quick=args.quick, device=common.device(args.device))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the end-to-end demo (what `make demo` runs)")
    p.add_argument("--out", default="results/demo")
    p.add_argument("--quick", action="store_true", help="a reduced run (small images, few iterations)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_demo)
