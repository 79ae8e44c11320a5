"""``gnrcnn convert``: any supported weights file in gnrcnn's format (``tools/convert.py``)."""

from __future__ import annotations

import argparse

from . import common


def cmd_convert(args: argparse.Namespace) -> int:
    from ..tools.convert import convert

    print(convert(args.input, args.output, args.config, args.overrides))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="write any supported checkpoint in gnrcnn's format")
    p.add_argument("input", help="a weights file, an http(s) URL or a zoo name")
    p.add_argument("output")
    common.add_config(p)
    p.set_defaults(func=cmd_convert)
