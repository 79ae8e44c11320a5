"""Training: it learns, it resumes exactly, it runs under torchrun, it writes what it promises."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gnrcnn import load_config
from gnrcnn.train.trainer import TrainArgs, Trainer
from gnrcnn.weights import load_weights_file

from conftest import SCRIPTS, TINY


def losses(work: Path) -> list[dict]:
    rows = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "loss" in r]  # the step lines (the first is the run's data record)


def run(root: Path, work: Path, overrides: list[str], **kw) -> dict:
    cfg = load_config(str(TINY), overrides)
    args = TrainArgs(data_root=str(root), ann=str(root / "annotations" / "train.json"), work_dir=str(work), **kw)
    return Trainer(cfg, args).train()


def test_overfits_eight_images(shapes8: Path, tmp_path: Path) -> None:
    # The R-50 GN backbone at short side 128 (narrow heads keep it quick on a CPU).
    over = ["model.backbone.depth=50", "train.base_lr=0.16", "train.iters=60", "train.lr_step_iters=[50]"]
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes(shapes8: Path, tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    script = SCRIPTS / "train_traced.py"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
           "--master_addr=127.0.0.1", str(script), str(TINY), str(shapes8), str(tmp_path)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert [p.name for p in sorted(tmp_path.glob("iter_*.pth"))] == ["iter_00000004.pth"]
    assert len(losses(tmp_path)) == 4  # rank 0 alone logs
    seen = [
        [line.split()[1:] for line in (tmp_path / f"data_trace.rank{r}.txt").read_text().splitlines()] for r in (0, 1)
    ]
    assert len(seen[0]) == len(seen[1]) == 4
    for step0, step1 in zip(*seen):
        assert set(step0).isdisjoint(step1)  # the ranks train on different images at every step
    ckpt = load_weights_file(tmp_path / "iter_00000004.pth")
    assert ckpt.meta["images_seen"] == 8  # 4 iterations x 2 processes x 1 image
