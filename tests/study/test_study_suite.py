"""``gnrcnn study all``: lanes, one process per study, a failed study stopping only its lane, resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gnrcnn.cli import main
from gnrcnn.errors import GnrcnnError
from gnrcnn.study import suite
from gnrcnn.study.suite import STUDIES, SuitePlan, run_suite


def test_lanes_put_the_detector_study_alone() -> None:
    assert SuitePlan(lanes=1).lane_order() == [list(STUDIES)]
    assert SuitePlan().lane_order() == [["norm-vs-batch"], ["classify", "group-sweep", "detect-pretrained"]]
    assert SuitePlan(lanes=3).lane_order() == [["norm-vs-batch"], ["classify", "detect-pretrained"], ["group-sweep"]]
    with pytest.raises(GnrcnnError, match="--lanes 0"):
        SuitePlan(lanes=0).lane_order()


def test_real_command_line() -> None:
    cmd = suite.command("classify", Path("o"), SuitePlan(threads=1, quick=True))
    assert cmd[1:] == ["-m", "gnrcnn", "study", "classify", "--out", "o/classify", "--threads", "1", "--quick"]


def fake_studies(monkeypatch: pytest.MonkeyPatch, failing: set[str]) -> None:
    """Each study a tiny process that appends its name to OUT/ran.txt, and exits 3 if it is in ``failing``."""

    def command(name: str, out: Path, plan: SuitePlan) -> list[str]:
        code = f"open({str(out / 'ran.txt')!r}, 'a').write({name!r} + '\\n'); print('{name} ran'); "
        return [sys.executable, "-c", code + f"raise SystemExit({3 if name in failing else 0})"]

    monkeypatch.setattr(suite, "command", command)


def test_failure_stops_its_lane_and_a_rerun_continues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_studies(monkeypatch, failing={"group-sweep"})
    assert main(["study", "all", "--out", str(tmp_path)]) == 1
    record = json.loads((tmp_path / "suite.json").read_text())
    states = {name: s["state"] for name, s in record["studies"].items()}
    # lane 2 stopped at its failed study; detect-pretrained, after it, never started; lane 1 finished
    assert states == {"norm-vs-batch": "done", "classify": "done", "group-sweep": "failed (exit 3)"}
    assert (tmp_path / "group-sweep.log").read_text() == "group-sweep ran\n"
    assert "| group-sweep | failed (exit 3) |" in (tmp_path / "suite.md").read_text()

    fake_studies(monkeypatch, failing=set())
    assert main(["study", "all", "--out", str(tmp_path)]) == 0
    ran = (tmp_path / "ran.txt").read_text().split()
    # the rerun started only the failed study and the one its failure held back
    assert sorted(ran) == sorted(["norm-vs-batch", "classify", "group-sweep", "group-sweep", "detect-pretrained"])
    assert ran[-2:] == ["group-sweep", "detect-pretrained"]
    record = json.loads((tmp_path / "suite.json").read_text())
    assert all(s["state"] == "done" for s in record["studies"].values()) and len(record["studies"]) == 4


def test_quick_and_full_suites_do_not_mix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_studies(monkeypatch, failing=set())
    run_suite(SuitePlan(lanes=1, quick=True), tmp_path)
    with pytest.raises(GnrcnnError, match="holds a quick suite"):
        run_suite(SuitePlan(lanes=1), tmp_path)
