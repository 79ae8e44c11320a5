"""``gnrcnn COMMAND ...`` in a process of its own, forked from one that has imported torch, torchvision and
gnrcnn once: for the tests that need a real process to kill, signal or resume, but not a fresh interpreter.
A command started this way runs in ~2 s where ``python -m gnrcnn`` takes ~7 s (a 4-iteration training of
the tiny model, three alternating runs each, Intel Xeon 2.8 GHz): the imports are paid once per worker.
Tests about the interpreter itself (the allocator, OpenVINO then SIGTERM, help without torch) keep spawning.

The benchmark dry runs (tests/tools/test_benchmarks.py) use the same fork server (multiprocessing has one
per process), so it starts the same way whoever uses it first.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

PRELOAD = ["torch", "torchvision", "gnrcnn.api", "gnrcnn.cli", "gnrcnn.train.trainer", "gnrcnn.tools.harness",
           "matplotlib.pyplot"]  # fmt: skip
SRC = Path(__file__).resolve().parents[1] / "src"
_ready = False


def fork_server() -> multiprocessing.context.BaseContext:
    """The worker's fork server, started (once) with one thread, matplotlib's file backend and src/ on the
    path (the environment every child inherits), and ready to fork."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.setenv("MPLBACKEND", "Agg")
        mp.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p))
        multiprocessing.forkserver.ensure_running()
    global _ready
    if not _ready:  # the server imports in the background: a first child waits for that, once
        child = ctx.Process(target=os.getpid)
        child.start(), child.join(300)
        _ready = True
    return ctx


def _run(argv: list[str], env: dict[str, str], log: str, err: str | None) -> None:
    """The child: the command's output to ``log`` (its stderr to ``err`` if given), its environment, its exit
    code (as from a shell)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1), os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) if err else fd, 2)
    os.environ.clear()
    os.environ.update(env)
    import torch

    torch.set_num_threads(int(env.get("OMP_NUM_THREADS", "1")))
    from gnrcnn.cli import main

    code: object = 0
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    finally:
        atexit._run_exitfuncs()  # multiprocessing's child leaves by os._exit, which skips them
        sys.stdout.flush(), sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


class Forked:
    """``Forked(["train", ...], log, env=...)``: a ``subprocess.Popen`` of ``python -m gnrcnn train ...`` as
    far as these tests use one (pid, poll, wait, send_signal; return codes -N for a signal N); what it
    printed is in ``log`` (``output()``), or its stderr apart in ``err``."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None, err: Path | None = None
                 ) -> None:  # fmt: skip
        self.log = Path(log)
        where = (str(log), str(err) if err else None)
        self.process = fork_server().Process(target=_run, args=(list(argv), dict(env or os.environ), *where))
        self.process.start()
        self.pid = self.process.pid
        self.args = argv

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(["gnrcnn", *self.args], timeout or 0)
        return self.process.exitcode

    def send_signal(self, sig: int) -> None:
        if self.process.exitcode is None:
            os.kill(self.pid, sig)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def run(argv: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 600,
        err: Path | None = None) -> tuple[int, str]:  # fmt: skip
    """Run to the end: (exit code, what it printed; with ``err``, its stdout alone)."""
    proc = Forked(argv, log, env, err)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        raise
    return code, proc.output()
