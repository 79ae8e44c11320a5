"""The ``gnrcnn`` command: one sub-command per job; user errors are one line, no traceback."""

from __future__ import annotations

import argparse
import sys

from ..errors import GnrcnnError
from . import analyze, bench, convert, data, data_import, demo, export, infer, rank, serve, study, train, zoo


def build_parser() -> argparse.ArgumentParser:
    from ..version import __version__

    parser = argparse.ArgumentParser(prog="gnrcnn", description="Mask R-CNN with Group Normalization")
    parser.add_argument("--version", action="version", version=f"gnrcnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (infer, train, data_import, zoo, data, bench, demo, convert, analyze, study, serve, export, rank):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "light", False):  # commands that print tables (zoo) never import torch
        from ..runtime import keep_freed_memory  # imports torch: not before a command runs, so --help is instant

        keep_freed_memory()
    try:
        return int(args.func(args) or 0)
    except GnrcnnError as e:
        print(f"error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)  # a training stopped by a signal: 128 + its number, as a shell reports it
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


__all__ = ["build_parser", "main"]
