"""Reliability: killed runs resume exactly, bad data never crashes an epoch, checkpoints stay safe."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch

import corpus
import forked
from gnrcnn import GnrcnnError, load_config
from gnrcnn.data.check import report
from gnrcnn.fileio import save_torch_atomic
from gnrcnn.train import checkpoint as ckpt
from gnrcnn.train.trainer import TrainArgs, Trainer
from gnrcnn.weights import load_weights_file

from conftest import TINY

ITERS = 24


def _argv(root: Path, work: Path, *extra: str) -> list[str]:
    # No memory probe (train.recompute_backbone=never): its four training forwards at 256-512 px cost seconds in
    # every process these tests start, and the plan is not what they check (tests/test_runtime.py does).
    return ["train", "--config", str(TINY), "--data-root", str(root), "--ann", str(root / "annotations" / "train.json"),
            "--work-dir", str(work), "--max-iters", str(ITERS), "--device", "cpu", "--set",
            "train.checkpoint_every_iters=2", "--set", "train.keep_checkpoints=20", "--set",
            "train.recompute_backbone=never", *extra]  # fmt: skip


def _log(work: Path) -> list[dict]:
    rows = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "loss" in r]  # the step lines (the first is the run's data record)


def _temporaries(work: Path) -> dict[Path, tuple[int, int]]:
    """Checkpoint temporary files (a killed write leaves its own behind) with their (mtime_ns, size)."""
    out = {}
    for p in work.glob(".iter_*.pth.tmp"):
        with contextlib.suppress(FileNotFoundError):  # renamed away while we look
            st = p.stat()
            out[p] = (st.st_mtime_ns, st.st_size)
    return out


def _sigkill(proc: forked.Forked) -> bool:
    """SIGKILL ``proc``; True if the signal is what ended it (it had not exited on its own)."""
    proc.send_signal(signal.SIGKILL)
    return proc.wait() == -signal.SIGKILL


def _kill_during_a_checkpoint_write(proc: forked.Forked, work: Path, timeout: float = 300) -> str | None:
    """SIGKILL as soon as a checkpoint's temporary file is being written (one left by an earlier kill
    does not count). Returns "write" if the kill left that file behind (it came before the rename),
    "mid" if the rename won the race, None if the run ended first."""
    stale, end = _temporaries(work), time.time() + timeout
    while time.time() < end and proc.poll() is None:
        fresh = [p for p, st in _temporaries(work).items() if stale.get(p) != st]
        if fresh:
            if not _sigkill(proc):
                return None
            return "write" if any(p.exists() for p in fresh) else "mid"
        time.sleep(0.0005)
    return None


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _kill_mid_training(proc: forked.Forked, work: Path, delay: float, timeout: float = 300) -> str | None:
    """SIGKILL ``delay`` seconds after the run logs its next iteration; "mid", or None if it ended first."""
    start, end = _lines(work / "metrics.jsonl"), time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if _lines(work / "metrics.jsonl") > start:
            time.sleep(delay)
            return "mid" if _sigkill(proc) else None
        time.sleep(0.005)
    return None


# The kills the test makes, in order; a "write" kill is retried until one lands before the rename.
# Each try resumes from the last checkpoint, at most 2 iterations back, so 24 iterations leave room.
PLAN = ("write", "mid", "write", "mid", "write")
TRIES = 4
SMALL = ("--set", "input.short=64", "--set", "input.long=64")  # quick iterations; checkpoints as large


def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(shapes8: Path, tmp_path: Path) -> None:
    # Each run a process of its own, forked with the imports done (tests/forked.py), on one thread as the test
    # worker: no third thread on two cores.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    straight = tmp_path / "straight"
    code, printed = forked.run(_argv(shapes8, straight, *SMALL), tmp_path / "straight.log", env)
    assert code == 0, printed[-2000:]
    work = tmp_path / "killed"
    rng = random.Random(0)
    kills = {"write": 0, "mid": 0}
    for planned in PLAN:
        for _ in range(TRIES):
            argv = _argv(shapes8, work, *SMALL, *(("--resume",) if any(kills.values()) else ()))
            proc = forked.Forked(argv, tmp_path / "killed.log", env)
            if planned == "write":
                got = _kill_during_a_checkpoint_write(proc, work)
            else:
                got = _kill_mid_training(proc, work, rng.uniform(0.0, 0.5))
            assert got is not None, f"the run ended before the planned '{planned}' kill: {sum(kills.values())} so far"
            kills[got] += 1
            for path in ckpt.list_checkpoints(work):  # every checkpoint on disk loads, whatever the moment
                assert load_weights_file(path).state_dict
            if got == planned:
                break
        else:
            pytest.fail(f"no kill before a checkpoint's rename in {TRIES} tries")
    assert kills["write"] == PLAN.count("write") and kills["mid"] >= PLAN.count("mid"), kills
    assert not (work / "model_final.pth").exists()  # every run so far was interrupted
    code, printed = forked.run(_argv(shapes8, work, *SMALL, "--resume"), tmp_path / "resumed.log", env)
    assert code == 0, printed[-2000:]
    assert (work / "model_final.pth").exists()
    assert not _temporaries(work)  # the killed writes' temporary files went with the next checkpoint
    a, b = _log(straight), _log(work)
    assert [r["iter"] for r in b] == list(range(1, ITERS + 1))
    for ra, rb in zip(a, b):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-6), ra["iter"]
    wa = load_weights_file(straight / "model_final.pth").state_dict
    wb = load_weights_file(work / "model_final.pth").state_dict
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    print(f"killed {sum(kills.values())} times ({kills['write']} during a checkpoint write), resumed each time")


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
    with pytest.warns(
        UserWarning, match=r"iter_00000006.pth \(corrupt or truncated checkpoint.*resuming from .*iter_00000004.pth"
    ):
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
    # recompute_backbone=never: no memory probe, whose forward passes would count as calls.
    cfg = load_config(str(TINY), ["train.checkpoint_every_iters=2", "train.recompute_backbone=never"])
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
    code, _ = forked.run(_argv(broken, tmp_path / "w"), tmp_path / "out.log", timeout=300, err=tmp_path / "err.log")
    stderr = (tmp_path / "err.log").read_text()
    assert code != 0 and "Traceback" not in stderr
    errors = [c for c in corpus.CASES if c.outcome == "error"]
    assert f"{len(errors)} problem(s) in the dataset" in stderr
    for case in errors:
        assert case.needle in stderr, case.name
    assert not (tmp_path / "w" / "metrics.jsonl").exists()


def test_training_with_only_skippable_problems_runs_and_counts_them(shapes8: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    corpus.build(shapes8, root, with_errors=False)
    ann = root / "annotations" / "train.json"
    # check-data lists every problem training's start-up finds (decode=False: the same checks).
    text, _ = report(ann, root, decode=False)
    listed = [line for line in text.splitlines() if line.startswith("skip: ")]
    skips = [c for c in corpus.CASES if c.outcome == "skip" and c.name != "truncated-jpeg"]  # found by decoding only
    assert len(listed) == len(skips) > 5
    for case in skips:
        assert len([line for line in listed if case.needle in line]) == 1, case.name
    argv = _argv(root, tmp_path / "w")
    argv[argv.index("--max-iters") + 1] = "8"
    code, _ = forked.run([*argv, "--batch-size", "4", *SMALL], tmp_path / "out.log", err=tmp_path / "err.log")
    stderr = (tmp_path / "err.log").read_text()
    assert code == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    # Training names the first five, counts the rest, and sums them up by kind, as check-data does.
    err = stderr.splitlines()
    head = err.index(next(line for line in err if line.startswith("warning: left out of training: ")))
    assert err[head] == f"warning: left out of training: {summarize_line(text)}"
    assert [line.strip() for line in err[head + 1 : head + 6]] == listed[:5]
    assert err[head + 6].strip() == f"... ({len(listed) - 5} more)"
    assert (tmp_path / "w" / "model_final.pth").exists()


def summarize_line(check_data_text: str) -> str:
    """The per-kind counts of skipped items from check-data's last line: '..., 8 skipped (3 a, 5 b): ...'."""
    last = check_data_text.splitlines()[-1]
    return last.split(" skipped (", 1)[1].rsplit("): ", 1)[0]
