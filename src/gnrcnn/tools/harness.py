"""The one measurement harness: ``gnrcnn bench`` and every script in ``benchmarks/`` time and measure with it.

- ``alternate``: jobs run in turn, round after round, so that a disturbance on a shared machine hits
  them alike; ``spread`` reports each job's median and min-max, and its ratio to a base job as the
  median and min-max of the per-round ratios (a target counts as met only when the whole spread meets it).
- ``in_fresh_process``: a job in a spawned child, whose peak resident memory (Linux's VmHWM, which
  starts afresh at exec: ``runtime.peak_rss_gb``) is its own, not the parent's. With
  ``GNRCNN_FRESH_PROCESS=forkserver`` the child is forked from a process that imported torch and gnrcnn
  once instead: ~0.3 s to start instead of ~4-5 s, but its peak memory leaves out the pages the imports
  touched (the demo model's job: 0.81 against 0.94-1.12 GB spawned, measured), so no reported figure uses
  it; the test suite's dry runs do.
- ``add_dry_run``: the ``--dry-run`` flag of every benchmark script (a tiny config, one round, seconds),
  which ``tests/tools/test_benchmarks.py`` runs so that a renamed field fails CI.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import importlib.util
import multiprocessing as mp
import os
import queue
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .. import runtime

# What a dry run measures: the demo's packaged config at 64 px, random weights.
DRY_CONFIG = "shapes-demo_r18_fpn_gn-all"
DRY_OVERRIDES = ["input.short=64", "input.long=64"]


def add_dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="a tiny config, one round, 64 px: checks that the script runs (seconds)")  # fmt: skip


def scratch_folder() -> str:
    """A temporary folder removed when the process exits: a dry run's outputs, a scratch work folder."""
    path = tempfile.mkdtemp(prefix="gnrcnn-scratch-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def sync(device: torch.device | str | None = None) -> None:
    """Wait for a CUDA device's queued work, so that a timer around a call times the call."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device | str | None = None) -> tuple[float, Any]:
    """Seconds one call of ``fn`` takes (CUDA synchronised), and what it returned."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def alternate(jobs: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1,
              device: torch.device | str | None = None, log: bool = False) -> dict[str, list[float]]:  # fmt: skip
    """Seconds per call of each job: ``warmup`` untimed calls each, then ``rounds`` rounds in which every
    job runs once, in turn."""
    return alternate_clocks(jobs, rounds, warmup, device, log)[0]


def alternate_clocks(jobs: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1,
                     device: torch.device | str | None = None, log: bool = False
                     ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:  # fmt: skip
    """``alternate``'s wall seconds, and the CPU seconds of this process (user + system) of the same calls:
    less disturbed by other processes on a shared machine."""
    for fn in jobs.values():
        for _ in range(warmup):  # kernels built, memory pools grown, OpenVINO's model for this size compiled
            fn()
    wall: dict[str, list[float]] = {name: [] for name in jobs}
    cpu: dict[str, list[float]] = {name: [] for name in jobs}
    for r in range(rounds):
        for name, fn in jobs.items():
            c = time.process_time()
            wall[name].append(timed(fn, device)[0])
            cpu[name].append(time.process_time() - c)
        if log:
            print(f"round {r + 1}: " + ", ".join(f"{n} {t[-1]:.3f} s" for n, t in wall.items()), flush=True)
    return wall, cpu


@dataclass(frozen=True)
class Spread:
    median: float
    min: float
    max: float
    ratio: float | None = None  # to the base job: median of the per-round ratios
    ratio_min: float | None = None
    ratio_max: float | None = None

    def text(self, digits: int = 3) -> str:
        return f"{self.median:.{digits}f} ({self.min:.{digits}f}-{self.max:.{digits}f})"

    def ratio_text(self) -> str:
        return "-" if self.ratio is None else f"{self.ratio:.2f} ({self.ratio_min:.2f}-{self.ratio_max:.2f})"


def spread(times: list[float], base: list[float] | None = None) -> Spread:
    """Median and min-max of ``times``; with ``base`` (the same rounds of another job) the ratios too."""
    if not base:
        return Spread(statistics.median(times), min(times), max(times))
    ratios = [a / b for a, b in zip(times, base)]
    return Spread(statistics.median(times), min(times), max(times),
                  statistics.median(ratios), min(ratios), max(ratios))  # fmt: skip


def _job(fn: Callable[..., Any]) -> tuple[str, str | None, str]:
    """How a child finds ``fn``: its module's name, the file to load it from when that name is not
    importable (a script run as ``__main__`` or loaded by path), and its qualified name."""
    module = sys.modules[fn.__module__]
    return fn.__module__, getattr(module, "__file__", None), fn.__qualname__


def _resolve(module: str, path: str | None, qualname: str) -> Callable[..., Any]:
    try:
        if module == "__main__":
            raise ImportError
        mod = importlib.import_module(module)
    except ImportError:
        spec = importlib.util.spec_from_file_location("_gnrcnn_job", path)  # not __main__: its cli does not run
        mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules["_gnrcnn_job"] = mod
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
    obj: Any = mod
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _child(where: tuple[str, str | None, str], args: tuple, kwargs: dict, threads: int, q: Any) -> None:
    runtime.keep_freed_memory()  # a spawned child: the parent's setting does not carry over
    torch.set_num_threads(threads)
    try:
        out = _resolve(*where)(*args, **kwargs)
        q.put(("ok", out, runtime.peak_rss_gb()))
    except BaseException as e:  # the parent reports it as one line
        q.put(("error", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
               traceback.format_exc()))  # fmt: skip


@dataclass(frozen=True)
class ChildResult:
    value: Any  # what the job returned
    peak_rss_gb: float  # the child's peak resident memory (VmHWM)


class ChildError(RuntimeError):
    pass


def _answer(p: Any, q: Any, timeout: float) -> tuple[str, Any, Any]:
    """The child's message; a child that dies without one (killed for memory, a crash) is said at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return q.get(timeout=0.5)
        except queue.Empty:
            if p.exitcode is not None:
                try:
                    return q.get(timeout=2)  # the message may still be in the pipe
                except queue.Empty:
                    raise ChildError(f"the child process ended without a result (exit code {p.exitcode})") from None
    p.kill()
    raise ChildError(f"the child process gave no result in {timeout:.0f} s")


# What a fork server imports once, when this process is the one that starts it.
_PRELOAD = ["torch", "torchvision", "gnrcnn.api", "gnrcnn.tools.harness"]


def _fresh_context() -> Any:
    """spawn, or with ``GNRCNN_FRESH_PROCESS=forkserver`` the process's fork server (see the module's
    docstring); a child of a fork server uses the same server."""
    method = os.environ.get("GNRCNN_FRESH_PROCESS", "").strip().lower() or "spawn"
    if method not in ("spawn", "forkserver"):
        raise ValueError(f"GNRCNN_FRESH_PROCESS={method}: expected spawn or forkserver")
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def in_fresh_process(fn: Callable[..., Any], *args: Any, threads: int | None = None, timeout: float = 3600,
                     **kwargs: Any) -> ChildResult:  # fmt: skip
    """``fn(*args, **kwargs)`` in a spawned child (a module-level function of an importable module or of a
    script; arguments and result picklable): its result and the child's peak resident memory. A job that
    raises raises ``ChildError`` here with its one-line reason."""
    ctx = _fresh_context()
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(_job(fn), args, kwargs, threads or torch.get_num_threads(), q))
    p.start()
    try:
        status, value, extra = _answer(p, q, timeout)
    finally:
        p.join(timeout=60)
    if status != "ok":
        raise ChildError(value)
    return ChildResult(value, extra)


def cpu_name() -> str:
    """The CPU's model name (Linux), for every reported figure."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        import platform

        return platform.processor() or "unknown CPU"
