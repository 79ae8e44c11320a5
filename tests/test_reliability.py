"""Reliability: killed runs resume exactly, bad data never crashes an epoch, checkpoints stay safe."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import corpus
from gnrcnn import GnrcnnError, load_config
from gnrcnn.data.check import report
from gnrcnn.engine import checkpoint as ckpt
from gnrcnn.engine.trainer import TrainArgs, Trainer
from gnrcnn.fileio import save_torch_atomic
from gnrcnn.weights import load_weights_file

from conftest import TINY

ITERS = 24


def _cmd(root: Path, work: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "gnrcnn", "train", "--config", str(TINY), "--data-root", str(root), "--ann",
            str(root / "annotations" / "train.json"), "--work-dir", str(work), "--max-iters", str(ITERS),
            "--device", "cpu", "--set", "train.checkpoint_every_iters=2", "--set", "train.keep_checkpoints=20",
            *extra]  # fmt: skip


def _log(work: Path) -> list[dict]:
    return [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]


def _kill_during_a_checkpoint_write(proc: subprocess.Popen, work: Path, timeout: float = 120) -> bool:
    """SIGKILL as soon as a checkpoint's temporary file exists; False if the run ended first."""
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if any(work.glob(".iter_*.pth.tmp")):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.0005)
    return False


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _kill_mid_training(proc: subprocess.Popen, work: Path, delay: float, timeout: float = 120) -> bool:
    """SIGKILL ``delay`` seconds after the run logs its next iteration; False if it ended first."""
    start, end = _lines(work / "metrics.jsonl"), time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if _lines(work / "metrics.jsonl") > start:
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            return False
        time.sleep(0.005)
    return False


KILLS = 5


def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(shapes8: Path, tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="2")
    straight = tmp_path / "straight"
    subprocess.run(_cmd(shapes8, straight), check=True, capture_output=True, env=env, timeout=300)
    work = tmp_path / "killed"
    rng = random.Random(0)
    kills = during_write = 0
    for attempt in range(KILLS + 1):
        extra = ("--resume",) if attempt else ()
        proc = subprocess.Popen(_cmd(shapes8, work, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=env)  # fmt: skip
        if attempt == KILLS:  # the last run goes to the end
            assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]
            break
        if attempt % 2 == 0:
            killed = _kill_during_a_checkpoint_write(proc, work)
            during_write += killed
        else:
            killed = _kill_mid_training(proc, work, rng.uniform(0.0, 0.5))
        kills += killed
        for path in ckpt.list_checkpoints(work):  # every checkpoint on disk loads, whatever the moment
            assert load_weights_file(path).state_dict
    assert kills >= 4 and during_write >= 2, "the test must actually interrupt the run"
    assert (work / "model_final.pth").exists()
    a, b = _log(straight), _log(work)
    assert [r["iter"] for r in b] == list(range(1, ITERS + 1))
    for ra, rb in zip(a, b):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-6), ra["iter"]
    wa = load_weights_file(straight / "model_final.pth").state_dict
    wb = load_weights_file(work / "model_final.pth").state_dict
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    print(f"killed {kills} times ({during_write} while a checkpoint was being written), resumed each time")


def test_corrupt_latest_checkpoint_falls_back_with_a_warning(shapes8: Path, tmp_path: Path) -> None:
    cfg = load_config(str(TINY), ["train.checkpoint_every_iters=2"])
    args = TrainArgs(
        data_root=str(shapes8),
        ann=str(shapes8 / "annotations/train.json"),
        work_dir=str(tmp_path),
        max_iters=8,
        stop_at=6,
    )
    Trainer(cfg, args).train()
    names = [p.name for p in ckpt.list_checkpoints(tmp_path)]
    assert names[-1] == "iter_00000006.pth" and (tmp_path / "latest").read_text().strip() == names[-1]
    latest = tmp_path / names[-1]
    latest.write_bytes(latest.read_bytes()[:5000])  # truncated, as by a crash of the disk or a copy
    with pytest.warns(UserWarning, match="iter_00000006.pth: corrupt or truncated checkpoint.*falling back"):
        path, state = ckpt.load_for_resume(tmp_path)
    assert path.name == "iter_00000004.pth" and state["iteration"] == 4


def test_a_full_disk_fails_loudly_and_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "iter_00000002.pth"
    save_torch_atomic({"x": torch.ones(3)}, target)
    (tmp_path / f".{target.name}.tmp").symlink_to("/dev/full")  # every write to it: ENOSPC
    with pytest.raises(GnrcnnError, match=r"cannot write checkpoint \(No space left on device\); the previous one"):
        save_torch_atomic({"x": torch.zeros(10_000_000)}, target)
    assert torch.equal(torch.load(target, weights_only=True)["x"], torch.ones(3))
    assert not (tmp_path / f".{target.name}.tmp").exists()


def test_an_unwritable_place_fails_loudly(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the work directory should be")
    with pytest.raises(GnrcnnError, match="cannot write checkpoint"):
        save_torch_atomic({"x": torch.ones(1)}, blocker / "iter_00000001.pth")


def test_nan_stops_the_run_naming_loss_iteration_and_images(
    shapes8: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnrcnn.modeling import roi_heads

    real, calls = roi_heads.mask_loss, {"n": 0}

    def poisoned(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return real(logits, targets) * (float("nan") if calls["n"] == 5 else 1.0)

    monkeypatch.setattr(roi_heads, "mask_loss", poisoned)
    cfg = load_config(str(TINY), ["train.checkpoint_every_iters=2"])
    args = TrainArgs(
        data_root=str(shapes8), ann=str(shapes8 / "annotations/train.json"), work_dir=str(tmp_path), max_iters=10
    )
    with pytest.raises(GnrcnnError) as e:
        Trainer(cfg, args).train()
    msg = str(e.value)
    assert msg.startswith("non-finite loss at iteration 5: loss_mask = nan (image ids [")
    assert "the last good checkpoint is" in msg and "iter_00000004.pth" in msg and "\n" not in msg
    state = load_weights_file(tmp_path / "iter_00000004.pth")  # intact and loadable
    assert all(torch.isfinite(v).all() for v in state.state_dict.values())
    assert not (tmp_path / "iter_00000006.pth").exists()


def test_bf16_training_gives_finite_losses(shapes8: Path, tmp_path: Path) -> None:
    cfg = load_config(str(TINY))
    args = TrainArgs(
        data_root=str(shapes8),
        ann=str(shapes8 / "annotations/train.json"),
        work_dir=str(tmp_path),
        max_iters=4,
        amp="bf16",
    )
    Trainer(cfg, args).train()
    log = _log(tmp_path)
    values = [v for r in log for k, v in r.items() if k.startswith("loss")]
    assert len(log) == 4 and all(v == v and abs(v) < 1e6 for v in values)


@pytest.fixture(scope="module")
def broken(shapes8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "data"
    corpus.build(shapes8, root, with_errors=True)
    return root


def test_check_data_reports_every_case_on_one_line(broken: Path) -> None:
    text, code = report(broken / "annotations" / "train.json", broken)
    lines = text.splitlines()
    assert code == 1
    for case in corpus.CASES:
        hits = [line for line in lines if case.needle and case.needle in line]
        if case.outcome == "valid":
            assert not [line for line in lines if f"bad/{case.name}" in line]
            continue
        assert len(hits) == 1, (case.name, text)
        assert hits[0].startswith(f"{case.outcome}: "), (case.name, hits[0])
    assert lines[-1].endswith("training would stop")
    for name in ("deep.png", "grey.png", "rgba.png", "exif.jpg"):  # unusual but valid
        assert not [line for line in lines if f"bad/{name} " in line]


def test_training_on_the_corpus_stops_before_the_first_iteration(broken: Path, tmp_path: Path) -> None:
    res = subprocess.run(_cmd(broken, tmp_path / "w"), capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    errors = [c for c in corpus.CASES if c.outcome == "error"]
    assert f"{len(errors)} problem(s) in the dataset" in res.stderr
    for case in errors:
        assert case.needle in res.stderr, case.name
    assert not (tmp_path / "w" / "metrics.jsonl").exists()


def test_training_with_only_skippable_problems_runs_and_counts_them(shapes8: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    corpus.build(shapes8, root, with_errors=False)
    cmd = _cmd(root, tmp_path / "w")
    cmd[cmd.index("--max-iters") + 1] = "8"
    res = subprocess.run([*cmd, "--batch-size", "4"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert "left out of training:" in res.stderr
    skips = [c for c in corpus.CASES if c.outcome == "skip" and c.name != "truncated-jpeg"]
    for case in skips:
        assert case.needle in res.stderr or "more)" in res.stderr, case.name
    assert (tmp_path / "w" / "model_final.pth").exists()
