"""Benchmarks cannot rot: every script in benchmarks/ has a dry run (a tiny config, one round) that runs
here, and none carries its own measuring code (``gnrcnn.tools.harness`` times and measures for all)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_dry_run(script: Path, tmp_path: Path) -> None:
    """``python benchmarks/NAME.py --dry-run`` as a person runs it, each in a process of its own (a crash in
    one native library is that script's failure, not the others')."""
    run, scratch = tmp_path / "run", tmp_path / "tmp"
    run.mkdir(), scratch.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", TMPDIR=str(scratch))
    env["PYTHONPATH"] = os.pathsep.join([str(BENCHMARKS.parent / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, str(script), "--dry-run"], cwd=run, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, f"exit code {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert list(run.iterdir()) == []  # a dry run writes into temporary folders, not where it is run
    # What libraries keep there is theirs (torch's torchinductor_USER cache, a hidden .ses of OpenVINO's).
    left = [p.name for p in scratch.iterdir() if not p.name.startswith(("torchinductor_", "."))]
    assert left == []  # and removes them when it ends
