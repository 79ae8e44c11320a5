"""Training: it learns, it resumes exactly, it writes what it promises (under torchrun: tests/distributed/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gnrcnn import load_config
from gnrcnn.train.trainer import TrainArgs, Trainer
from gnrcnn.weights import load_weights_file

from conftest import TINY


def losses(work: Path) -> list[dict]:
    rows = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "loss" in r]  # the step lines (the first is the run's data record)


def run(root: Path, work: Path, overrides: list[str], **kw) -> dict:
    # No memory probe: its four training forwards at 256-512 px cost seconds (R-50: more than the 60
    # iterations' tenth) and the plan is not what these tests check (tests/test_runtime.py does).
    cfg = load_config(str(TINY), ["train.recompute_backbone=never", *overrides])
    args = TrainArgs(data_root=str(root), ann=str(root / "annotations" / "train.json"), work_dir=str(work), **kw)
    return Trainer(cfg, args).train()


def test_overfits_eight_images(shapes8: Path, tmp_path: Path) -> None:
    # The R-50 GN backbone, at its published width, at short side 128 (narrow heads keep it quick on a CPU).
    over = [
        "model.backbone.depth=50",
        "model.backbone.width=64",
        "train.base_lr=0.16",
        "train.iters=60",
        "train.lr_step_iters=[50]",
    ]
    run(shapes8, tmp_path, over)
    log = losses(tmp_path)
    assert len(log) == 60 and log[-1]["iter"] == 60
    first, last = log[0]["loss"], sum(r["loss"] for r in log[-5:]) / 5
    assert last < 0.5 * first, (first, last)
    assert {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "loss_mask", "lr"} <= set(log[0])
    assert (tmp_path / "loss_curve.png").stat().st_size > 1000
    final = load_weights_file(tmp_path / "model_final.pth")
    assert final.config["data"]["class_names"] == ["circle", "triangle", "rectangle"]


def test_resume_is_exact(shapes8: Path, tmp_path: Path) -> None:
    over = ["train.checkpoint_every_iters=5", "train.images_per_gpu=2"]
    run(shapes8, tmp_path / "straight", over, max_iters=10)
    run(shapes8, tmp_path / "split", over, max_iters=10, stop_at=5)
    assert [r["iter"] for r in losses(tmp_path / "split")] == [1, 2, 3, 4, 5]
    assert not (tmp_path / "split" / "model_final.pth").exists()
    run(shapes8, tmp_path / "split", over, max_iters=10, resume=True)
    a, b = losses(tmp_path / "straight"), losses(tmp_path / "split")
    assert [r["iter"] for r in b] == list(range(1, 11))
    for ra, rb in zip(a, b):
        for k in ("loss", "loss_rpn_cls", "loss_cls", "loss_mask", "lr"):
            assert ra[k] == pytest.approx(rb[k], rel=1e-5, abs=1e-7), (ra["iter"], k)
    wa = load_weights_file(tmp_path / "straight" / "model_final.pth").state_dict
    wb = load_weights_file(tmp_path / "split" / "model_final.pth").state_dict
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)
