"""Benchmarks cannot rot: every script in benchmarks/ has a dry run (a tiny config, one round) that runs
here, and none carries its own measuring code (``gnrcnn.tools.harness`` times and measures for all)."""

from __future__ import annotations

import json
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

# One interpreter runs every dry run (imports are paid once), each script loaded from its file and its
# main(["--dry-run"]) called; per script: ok, seconds, and the traceback of a failure.
RUNNER = """
import contextlib, importlib.util, io, json, sys, time, traceback
out = {}
for path in sys.argv[1:]:
    name = path.rsplit("/", 1)[-1][:-3]
    start = time.perf_counter()
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        with contextlib.redirect_stdout(io.StringIO()):
            spec.loader.exec_module(module)
            code = module.main(["--dry-run"])
        out[name] = {"ok": code in (None, 0), "s": time.perf_counter() - start, "error": f"exit code {code}"}
    except BaseException:
        out[name] = {"ok": False, "s": time.perf_counter() - start, "error": traceback.format_exc()[-4000:]}
print("DRY-RUNS " + json.dumps(out))
"""


def test_there_are_benchmarks() -> None:
    assert len(SCRIPTS) >= 15


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_has_a_dry_run_and_measures_with_the_harness(script: Path) -> None:
    text = script.read_text()
    assert "add_dry_run(" in text and re.search(r"def main\(argv: list\[str\] \| None = None\)", text)
    found = [what for what, pattern in OWN_MEASURING.items() if re.search(pattern, text)]
    assert not found, f"{script.name}: {', '.join(found)} (use gnrcnn.tools.harness)"


def test_every_dry_run_runs(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    # src as the suite's; benchmarks/ as running a script puts its own folder first (sibling imports)
    env["PYTHONPATH"] = os.pathsep.join([str(BENCHMARKS.parent / "src"), str(BENCHMARKS), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", RUNNER, *map(str, SCRIPTS)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1500)  # fmt: skip
    line = next((x for x in done.stdout.splitlines() if x.startswith("DRY-RUNS ")), None)
    assert line, f"the dry runs' process ended with code {done.returncode}:\n{done.stderr[-4000:]}"
    results = json.loads(line.removeprefix("DRY-RUNS "))
    assert sorted(results) == sorted(p.stem for p in SCRIPTS)
    failed = {name: r["error"] for name, r in results.items() if not r["ok"]}
    assert not failed, "\n\n".join(f"{name}:\n{error}" for name, error in failed.items())
    print(", ".join(f"{name} {r['s']:.1f} s" for name, r in sorted(results.items(), key=lambda kv: -kv[1]["s"])))
