"""Gradient clipping and the EMA of the weights: what they compute, that the EMA is what gets evaluated and
saved, and that --resume continues both exactly (with augmentations on, whose draws resume too)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from gnrcnn import load_config
from gnrcnn.train.ema import EMA, ema_decay_at
from gnrcnn.train.trainer import TrainArgs, Trainer
from gnrcnn.weights import load_weights_file

from conftest import TINY


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))


def test_ema_follows_the_warmed_up_decay_and_keeps_the_layout() -> None:
    model = Tiny().to(memory_format=torch.channels_last)
    ema = EMA(model, decay=0.9)
    expected = None
    for step in range(6):
        with torch.no_grad():
            model.conv.weight.copy_(torch.full_like(model.conv.weight, float(step)))
            model.count += 1
        ema.update(model)
        w = torch.full_like(model.conv.weight, float(step))
        expected = w if expected is None else ema_decay_at(0.9, step) * expected + (1 - ema_decay_at(0.9, step)) * w
    torch.testing.assert_close(ema.module.conv.weight, expected)
    assert ema.updates == 6 and int(ema.module.count) == 6  # an integer buffer is copied, not averaged
    assert ema_decay_at(0.9, 0) == pytest.approx(0.1) and ema_decay_at(0.9, 1000) == 0.9
    assert ema.module.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not any(p.requires_grad for p in ema.module.parameters())
    buf = io.BytesIO()
    torch.save(ema.state_dict(), buf)
    buf.seek(0)
    again = EMA(Tiny(), decay=0.9)
    again.load_state_dict(torch.load(buf, weights_only=True))  # plain tensors and an int
    torch.testing.assert_close(again.module.conv.weight, ema.module.conv.weight)
    assert again.updates == 6


def run(root: Path, work: Path, **kw) -> Trainer:
    over = ["train.clip_grad_norm=0.05", "train.ema_decay=0.9", "train.checkpoint_every_iters=1", "augment.lsj=true",
            "augment.photometric=true", "augment.rot90=true"]  # fmt: skip
    cfg = load_config(str(TINY), over)
    args = TrainArgs(data_root=str(root), ann=str(root / "annotations" / "train.json"), work_dir=str(work),
                     max_iters=2, **kw)  # fmt: skip
    trainer = Trainer(cfg, args)
    norms: list[float] = []
    step = trainer.optimizer.step

    def checked_step(*a, **k):  # the gradients the optimizer sees
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return step(*a, **k)

    trainer.optimizer.step = checked_step
    trainer.train()
    trainer.seen_norms = norms
    return trainer


def test_clipping_ema_and_augmentation_in_training_and_across_resume(shapes8: Path, tmp_path: Path) -> None:
    straight = run(shapes8, tmp_path / "a")
    assert straight.eval_model is straight.ema.module  # what evaluation and model_final.pth use
    assert len(straight.seen_norms) == 2 and all(n <= 0.05 * (1 + 1e-4) for n in straight.seen_norms)
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").open()]
    logged = [r["grad_norm"] for r in rows if "loss" in r]  # the step lines (the first is the data record)
    assert all(n > 0.05 for n in logged)  # the norms before clipping: the clip acted
    run(shapes8, tmp_path / "b", stop_at=1)
    run(shapes8, tmp_path / "b", resume=True)
    log_a, log_b = ([json.loads(line) for line in (tmp_path / d / "metrics.jsonl").open()] for d in ("a", "b"))
    log_a, log_b = ([r for r in log if "loss" in r] for log in (log_a, log_b))
    assert [r["loss"] for r in log_a] == pytest.approx([r["loss"] for r in log_b], rel=1e-5)  # same samples
    final_a = load_weights_file(tmp_path / "a" / "model_final.pth")
    final_b = load_weights_file(tmp_path / "b" / "model_final.pth")
    assert final_a.meta["ema"]
    for k, v in final_a.state_dict.items():
        torch.testing.assert_close(final_b.state_dict[k], v, rtol=1e-5, atol=1e-6)
    ckpt = torch.load(tmp_path / "a" / "iter_00000002.pth", weights_only=True)
    assert ckpt["ema"]["updates"] == 2
    raw, averaged = ckpt["model"], ckpt["ema"]["weights"]
    moved = [k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], averaged[k])]
    assert moved  # the EMA is not the raw weights ...
    assert all(torch.equal(final_a.state_dict[k], averaged[k]) for k in averaged)  # ... and it is the result
