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
    if not getattr(args, "light", False) and getattr(args, "keep_freed_memory", True):  # zoo never imports torch
        from ..runtime import keep_freed_memory  # imports torch: not before a command runs, so --help is instant

        keep_freed_memory()
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit where Python reports it
        return code
    except GnrcnnError as e:
        print(f"error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)  # a training stopped by a signal: 128 + its number, as a shell reports it
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _pipe_closed()


def _pipe_closed() -> int:
    """The reader of our output went away (``gnrcnn zoo | head -3``): stop quietly, as ``cat`` does. Python
    would otherwise print a traceback, and a second one when it flushes stdout at exit: so stdout now writes
    to /dev/null. 141 is what a shell reports for a process that SIGPIPE ended."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


__all__ = ["build_parser", "main"]
