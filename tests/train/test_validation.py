"""Validation that acts: when evaluations fall, how the best is kept and the patience counted, and the
issue's run (--keep-empty --val-ann ... --eval-every 1 --early-stop 2) writing best.pth and stopping
when it should, also across --stop-at and --resume."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from gnrcnn import load_config
from gnrcnn.cli import main
from gnrcnn.cli.train import eval_every_overrides
from gnrcnn.data.shapes import make_shapes
from gnrcnn.errors import GnrcnnError
from gnrcnn.train.best import BestTracker, is_due
from gnrcnn.train.trainer import TrainArgs, Trainer
from gnrcnn.weights import load_weights_file

from conftest import TINY


def test_tracker_keeps_the_best_and_counts_evaluations_without_improvement() -> None:
    t = BestTracker("segm.AP", patience=2)
    verdicts = []
    for it, value in enumerate([0.1, 0.2, 0.2, 0.15, 0.3, 0.25, 0.1], 1):
        verdicts.append((t.update(value, it), t.since_best, t.should_stop))
    assert verdicts == [(True, 0, False), (True, 0, False), (False, 1, False), (False, 2, True), (True, 0, False),
                        (False, 1, False), (False, 2, True)]  # fmt: skip
    assert (t.best, t.best_iter) == (0.3, 5)
    again = BestTracker("segm.AP", patience=2)
    again.load_state_dict(t.state_dict())
    assert again == t
    other = BestTracker("bbox.AP", patience=2)
    other.load_state_dict(t.state_dict())  # another metric: its best starts over
    assert other.best is None
    assert t.value({"segm": {"AP": 0.5}, "bbox": {"AP": 0.1}}) == 0.5


def test_evaluations_fall_every_n_epochs_or_iterations() -> None:
    by_iters = load_config(str(TINY), ["train.eval_every_iters=5"])
    assert [i for i in range(1, 21) if is_due(by_iters, i, 3, 20)] == [5, 10, 15]  # never on the last: final runs
    by_epochs = load_config(str(TINY), ["train.eval_every_epochs=2"])
    assert [i for i in range(1, 21) if is_due(by_epochs, i, 3, 20)] == [6, 12, 18]
    assert not any(is_due(load_config(str(TINY)), i, 3, 20) for i in range(1, 21))


def test_eval_every_flag_and_config_checks() -> None:
    assert eval_every_overrides("2") == ["train.eval_every_epochs=2", "train.eval_every_iters=0"]
    assert eval_every_overrides("500it") == ["train.eval_every_epochs=0", "train.eval_every_iters=500"]
    with pytest.raises(GnrcnnError, match="--eval-every"):
        eval_every_overrides("5x")
    for bad, needle in ((["train.early_stop=2"], "needs evaluations"), (["train.ema_decay=1.0"], "ema_decay"),
                        (["train.eval_every_epochs=1", "train.eval_every_iters=5"], "not both"),
                        (["train.best_metric=AP"], "best_metric"), (["train.clip_grad_norm=-1"], "clip")):  # fmt: skip
        with pytest.raises(GnrcnnError, match=needle):
            load_config(str(TINY), bad)


def test_evaluations_during_training_need_a_validation_set(shapes8: Path, tmp_path: Path) -> None:
    cfg = load_config(str(TINY), ["train.eval_every_epochs=1", "train.early_stop=2"])
    args = TrainArgs(data_root=str(shapes8), ann=str(shapes8 / "annotations" / "train.json"), work_dir=str(tmp_path))
    with pytest.raises(GnrcnnError, match="--val-ann"):
        Trainer(cfg, args)


@pytest.fixture(scope="module")
def one_and_one(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One image of shapes and one of background alone: with --keep-empty, one iteration per epoch."""
    root = tmp_path_factory.mktemp("one_and_one")
    make_shapes(root, train=1, val=2, size=128, seed=2, empty=1)
    return root


def test_keep_empty_eval_every_1_early_stop_2_writes_best_and_stops_across_resume(
    one_and_one: Path, tmp_path: Path
) -> None:
    """The issue's run. A score threshold of 1.0 makes the model detect nothing, so every evaluation
    scores 0 AP: the first is the best, the next two do not improve, and the run must stop after the
    third epoch (of 24), with best.pth holding the first epoch's weights. It is stopped at iteration 2
    and resumed: only a patience count and best value carried through the checkpoint stop it at 3."""
    work = tmp_path / "w"
    cmd = ["train", "--config", str(TINY), "--data-root", str(one_and_one), "--ann",
           str(one_and_one / "annotations" / "train.json"), "--val-ann", str(one_and_one / "annotations" / "val.json"),
           "--work-dir", str(work), "--keep-empty", "--eval-every", "1", "--early-stop", "2",
           "--set", "model.roi.score_thr=1.0", "--set", "train.keep_checkpoints=5", "--num-workers", "0"]  # fmt: skip
    assert main([*cmd, "--stop-at", "2"]) == 0
    assert not (work / "model_final.pth").exists()
    assert main([*cmd, "--resume"]) == 0
    rows = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in rows if "loss" in r] == [1, 2, 3]  # stopped after epoch 3 of 24
    evals = [r for r in rows if "eval" in r]
    assert [(r["iter"], r["evals_since_best"], r["best_iter"]) for r in evals] == [(1, 0, 1), (2, 1, 1), (3, 2, 1)]
    assert all(r["eval"]["segm.AP"] == 0 for r in evals)
    assert "keep_empty_images: true" in (work / "config.yaml").read_text()
    best = load_weights_file(work / "best.pth")
    assert best.meta["iteration"] == 1 and best.meta["best_metric"] == "segm.AP"
    first = load_weights_file(work / "iter_00000001.pth").state_dict
    assert all(torch.equal(best.state_dict[k], first[k]) for k in first)
    final = load_weights_file(work / "model_final.pth")
    assert final.meta["stopped_early"] and final.meta["iteration"] == 3
    assert json.loads((work / "best.json").read_text())["iteration"] == 1
    assert (work / "loss_curve.png").stat().st_size > 1000
    if importlib.util.find_spec("tensorboard"):  # TensorBoard is optional
        assert b"val/segm.AP" in b"".join(p.read_bytes() for p in (work / "tb").glob("events*"))
    assert main([*cmd, "--resume"]) == 0  # resuming a run that stopped early trains no further
    assert len((work / "metrics.jsonl").read_text().splitlines()) == len(rows)
