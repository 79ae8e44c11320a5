"""``gnrcnn zoo``: the published models."""

from __future__ import annotations

import argparse


def cmd_zoo(args: argparse.Namespace) -> int:
    from .. import zoo

    print(zoo.table())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("zoo", help="the published models: AP, memory, speed, checkpoints").set_defaults(func=cmd_zoo)
