"""The ``gnrcnn`` command: one sub-command per job; user errors are one line, no traceback."""

from __future__ import annotations

import argparse
import sys

from ..errors import GnrcnnError
from ..runtime import keep_freed_memory
from . import analyze, data_import, export, infer, serve, study, tools, train


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="gnrcnn", description="Mask R-CNN with Group Normalization")
    parser.add_argument("--version", action="version", version=f"gnrcnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (infer, train, data_import, tools, analyze, study, serve, export):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    try:
        return int(args.func(args) or 0)
    except GnrcnnError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


__all__ = ["build_parser", "main"]
