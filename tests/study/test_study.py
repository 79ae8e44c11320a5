"""``gnrcnn study norm-vs-batch`` at a tiny size: every run trains and is scored, the table and plot
are written, an interrupted run resumes and a finished study is skipped."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from torch import nn

from gnrcnn.build import build_model
from gnrcnn.errors import GnrcnnError
from gnrcnn.study import norm_vs_batch as study


def test_each_run_differs_only_in_norm_batch_and_schedule() -> None:
    plan = study.Plan(images=1600, warmup_images=160)
    a, b = study.run_config(plan, "gn", 1), study.run_config(plan, "bn", 8)
    assert (a.model.backbone.norm, a.model.fpn.norm, a.model.roi.norm) == ("gn",) * 3
    assert (b.model.backbone.norm, b.model.fpn.norm, b.model.roi.norm) == ("bn",) * 3
    assert (a.train.iters, a.train.lr_step_iters, a.train.warmup_iters) == (1600, [1280, 1488], 160)
    assert (b.train.iters, b.train.lr_step_iters, b.train.warmup_iters) == (200, [160, 186], 20)
    assert (a.train.images_per_gpu, b.train.images_per_gpu) == (1, 8)
    assert b.model.backbone.frozen_stages == -1 and b.train.recompute_backbone == "never"
    for field in ("input", "data"):
        assert getattr(a, field) == getattr(b, field)
    assert (a.train.seed, a.train.base_lr, a.train.base_batch) == (b.train.seed, b.train.base_lr, b.train.base_batch)
    norms = {type(m) for m in build_model(b).modules() if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d))}
    assert norms == {nn.BatchNorm2d}
    with pytest.raises(GnrcnnError, match="batch 3 must divide"):
        study.Plan(batches=(1, 3), images=16).check()


def test_tiny_study_resumes_and_skips(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gnrcnn.cli import main

    out = tmp_path / "study"
    plan = study.QUICK
    # An interrupted run: stopped with a checkpoint after 2 of its 4 iterations.
    assert study.train_run(plan, out, "bn", 1, stop_at=2) is None
    assert (out / "runs" / "bn_b1" / "iter_00000002.pth").exists()
    capsys.readouterr()
    assert main(["study", "norm-vs-batch", "--quick", "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "resumed from" in printed and "iteration 2" in printed
    runs = json.loads((out / "study.json").read_text())["runs"]
    assert [(r["norm"], r["batch"], r["iterations"]) for r in runs] == [("gn", 1, 4), ("gn", 2, 2), ("bn", 1, 4),
                                                                         ("bn", 2, 2)]  # fmt: skip
    assert all(r["box_AP"] >= 0 and r["mask_AP"] >= 0 for r in runs)
    assert runs[1]["lr"] == pytest.approx(2 * runs[0]["lr"])  # linear scaling
    table = (out / "study.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith(("| GN |", "| BN"))]
    assert len(rows) == 2 and all(row.count(" / ") == 2 for row in rows)
    assert cv2.imread(str(out / "study.png")) is not None
    # A finished study: every run is skipped, nothing trains again.
    assert main(["study", "norm-vs-batch", "--quick", "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("done, skipped") == 4 and "training FROM SCRATCH" not in printed
    # The same folder with another plan: refused, nothing mixed.
    assert main(["study", "norm-vs-batch", "--quick", "--out", str(out), "--images", "8"]) == 2
    assert "holds a study with another plan (images: 4 -> 8)" in capsys.readouterr().err


def test_equal_iterations_control_gives_every_batch_the_same_steps() -> None:
    plan = study.Plan(images=800, warmup_images=80, iterations=300, batches=(1, 3, 8))
    plan.check()  # batch 3 need not divide --images: the runs are counted in iterations
    a, b = study.run_config(plan, "gn", 1), study.run_config(plan, "bn", 8)
    assert (a.train.iters, a.train.lr_step_iters, a.train.warmup_iters) == (300, [240, 279], 30)
    assert (b.train.iters, b.train.lr_step_iters, b.train.warmup_iters) == (300, [240, 279], 30)
    assert b.train.images_per_gpu == 8 and b.train.base_lr == a.train.base_lr  # the lr still scales with the batch
