"""``gnrcnn zoo``: the published models."""

from __future__ import annotations

import argparse


def cmd_zoo(args: argparse.Namespace) -> int:
    from .. import zoo
    from ..config.loader import available_configs, config_summary

    published = {e.config for e in zoo.ZOO}
    others = [(n, config_summary(n)) for n in available_configs() if n not in published]
    print(zoo.table(args.wide, others))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="the published models (AP, memory, speed) and every bundled config")
    p.add_argument("--wide", action="store_true", help="also the checkpoint URLs and starting backbones")
    p.set_defaults(func=cmd_zoo, light=True)
