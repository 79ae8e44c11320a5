"""``gnrcnn study active-learning`` at a tiny size: the start run and each signal's round train and are
scored, each round adds the images its signal ranked first, the table and plot are written, and a
finished study trains nothing again."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from gnrcnn.cli import main
from gnrcnn.errors import GnrcnnError
from gnrcnn.study import active_learning as study


def test_plan_is_checked() -> None:
    with pytest.raises(GnrcnnError, match="more than the --pool"):
        study.Plan(pool=20, start=12, k=4, rounds=3).check()
    with pytest.raises(GnrcnnError, match="unknown signal"):
        study.Plan(signals=("random", "loss")).check()
    assert study.Plan().labelled() == [12, 24, 36, 48]


def test_tiny_study_adds_each_signals_picks_and_skips_when_done(tmp_path: Path, capsys) -> None:
    out = tmp_path / "al"
    assert main(["study", "active-learning", "--quick", "--out", str(out), "--device", "cpu", "--threads", "1"]) == 0
    runs = json.loads((out / "study.json").read_text())["runs"]
    start, *rounds = runs
    assert [(r.get("signal"), r["labelled"]) for r in runs] == [(None, 2), ("random", 3), ("score", 3)]
    assert set(start["picks"]) == {"random", "score"}
    for r in rounds:  # the start's images and the one its signal ranked first, none twice
        assert r["image_ids"] == sorted(start["image_ids"] + start["picks"][r["signal"]])
        assert "picks" not in r and 0 <= r["mask_AP"] <= 1
    table = (out / "study.md").read_text()
    assert "| random | " in table and "| score | " in table
    assert cv2.imread(str(out / "study.png")) is not None
    capsys.readouterr()
    assert main(["study", "active-learning", "--quick", "--out", str(out), "--device", "cpu"]) == 0
    assert "training FROM SCRATCH" not in capsys.readouterr().out
