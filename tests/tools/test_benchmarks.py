"""Benchmarks cannot rot: every script in benchmarks/ has a dry run (a tiny config, one round) that runs
here, and none carries its own measuring code (``gnrcnn.tools.harness`` times and measures for all)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import re
import sys
from pathlib import Path

import pytest

import forked

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))

# What the harness does, written again: peak memory by hand, child processes of its own, rounds and ratios.
OWN_MEASURING = {
    "edits sys.path": r"sys\.path",
    "reads peak memory itself": r"ru_maxrss|getrusage|/proc/self/status",
    "starts its own child processes for measuring": r"\bmultiprocessing\b|get_context\(|\"--child\"",
    "computes its own ratio spread": r"ratios = \[",
    "defines its own alternating rounds": r"def (round_robin|ratio_spread|alternate|_time)\b",
}


def test_there_are_benchmarks() -> None:
    assert len(SCRIPTS) >= 15


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_has_a_dry_run_and_measures_with_the_harness(script: Path) -> None:
    text = script.read_text()
    assert "add_dry_run(" in text and re.search(r"def main\(argv: list\[str\] \| None = None\)", text)
    found = [what for what, pattern in OWN_MEASURING.items() if re.search(pattern, text)]
    assert not found, f"{script.name}: {', '.join(found)} (use gnrcnn.tools.harness)"


def _dry_run(script: str, cwd: str, tmpdir: str, log: str) -> None:
    """``python SCRIPT --dry-run`` in a child of the fork server: as from a shell (``__main__``, the script's
    folder first on the path, its exit code, its atexit work), without paying for the imports again."""
    import atexit
    import runpy
    import tempfile

    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1), os.dup2(fd, 2)  # native libraries' output too
    os.chdir(cwd)
    os.environ["TMPDIR"], tempfile.tempdir = tmpdir, None
    # The harness's fresh processes forked from a server of the script's own that imported torch once
    # (the figures of a dry run are not reported: only the path is checked).
    os.environ.setdefault("GNRCNN_FRESH_PROCESS", "forkserver")
    sys.argv, sys.path[0:0] = [script, "--dry-run"], [str(Path(script).parent)]
    code: object = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        code = e.code
    finally:
        atexit._run_exitfuncs()  # a multiprocessing child leaves by os._exit, which skips them
        sys.stdout.flush(), sys.stderr.flush()
    sys.exit(code)


@pytest.fixture(scope="module")
def fork_server() -> multiprocessing.context.BaseContext:
    """Children forked from one process that has imported torch, torchvision and gnrcnn once (tests/forked.py:
    one thread, matplotlib's file backend): each script still runs in a process of its own (a crash in a
    native library is that script's failure only), and 20 of them no longer pay ~3 s each of interpreter
    start and imports."""
    return forked.fork_server()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_dry_run(script: Path, tmp_path: Path, fork_server: multiprocessing.context.BaseContext) -> None:
    """``python benchmarks/NAME.py --dry-run`` as a person runs it, each in a process of its own (a crash in
    one native library is that script's failure, not the others')."""
    run, scratch, log = tmp_path / "run", tmp_path / "tmp", tmp_path / "log.txt"
    run.mkdir(), scratch.mkdir()
    child = fork_server.Process(target=_dry_run, args=(str(script), str(run), str(scratch), str(log)))
    child.start()
    child.join(timeout=600)
    if child.exitcode is None:
        child.kill()
    printed = log.read_text(errors="replace")
    assert child.exitcode == 0, f"exit code {child.exitcode}\n{printed[-6000:]}"
    assert list(run.iterdir()) == []  # a dry run writes into temporary folders, not where it is run
    # What libraries keep there is theirs (torch's torchinductor_USER cache, a hidden .ses of OpenVINO's).
    left = [p.name for p in scratch.iterdir() if not p.name.startswith(("torchinductor_", "."))]
    assert left == []  # and removes them when it ends
