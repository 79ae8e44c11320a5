"""torchrun beyond one machine: two "machines" on one host train as one machine with two processes, a
SIGKILLed worker is restarted by torchrun and training resumes by itself, a hung rank ends the job.

Every run: tests/assets/tiny.yaml on shapes8 at 64 px, 1 image per process, 6 iterations, a checkpoint every 2,
no memory probe (train.recompute_backbone=never: its four forwards at 256-512 px cost seconds per process), one
thread per process (the losses depend on the thread count), 127.0.0.1 on free ports. The uninterrupted
one-machine run is launched once (the module's ``reference``) and checked by two tests.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gnrcnn.weights import load_weights_file

from conftest import SCRIPTS, TINY

SCRIPT = SCRIPTS / "train_traced.py"
RUN = [sys.executable, "-m", "torch.distributed.run"]
OVER = ["train.checkpoint_every_iters=2", "train.recompute_backbone=never", "input.short=64", "input.long=64"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", MAX_ITERS="6", GNRCNN_INDEX_DIR=str(tmp / "index"), **extra)


def _one_machine(data: Path, work: Path, env: dict[str, str], *torchrun: str, over: tuple[str, ...] = (),
                 timeout: float = 240) -> subprocess.CompletedProcess:  # fmt: skip
    cmd = [*RUN, "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(free_port()), *torchrun,
           str(SCRIPT), str(TINY), str(data), str(work), *OVER, *over]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def losses(work: Path) -> list[dict]:
    """The logged steps (not the run's data record, iteration 0)."""
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "loss" in r]


def final_weights(work: Path) -> dict[str, torch.Tensor]:
    return load_weights_file(work / "model_final.pth").state_dict


@pytest.fixture(scope="module")
def reference(shapes8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One machine, two processes, uninterrupted."""
    tmp = tmp_path_factory.mktemp("torchrun_reference")
    res = _one_machine(shapes8, tmp / "work", _env(tmp))
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp / "work"


def test_torchrun_two_processes_split_the_data_and_rank_0_alone_writes(reference: Path) -> None:
    assert [p.name for p in sorted(reference.glob("iter_*.pth"))] == [f"iter_{i:08d}.pth" for i in (2, 4, 6)]
    assert len(losses(reference)) == 6  # rank 0 alone logs
    seen = [
        [line.split()[1:] for line in (reference / f"data_trace.rank{r}.txt").read_text().splitlines()] for r in (0, 1)
    ]
    assert len(seen[0]) == len(seen[1]) == 6
    for step0, step1 in zip(*seen):
        assert set(step0).isdisjoint(step1)  # the ranks train on different images at every step
    ckpt = load_weights_file(reference / "iter_00000006.pth")
    assert ckpt.meta["images_seen"] == 12  # 6 iterations x 2 processes x 1 image


def test_two_machines_train_as_one(shapes8: Path, reference: Path, tmp_path: Path) -> None:
    port = free_port()
    procs = []
    for node in (0, 1):
        (tmp_path / f"node{node}").mkdir()
        cmd = [*RUN, "--nnodes", "2", "--node-rank", str(node), "--nproc-per-node", "1", "--rdzv-backend", "c10d",
               "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "test", str(SCRIPT), str(TINY), str(shapes8),
               str(tmp_path / f"node{node}" / "work"), *OVER]  # fmt: skip
        env = _env(tmp_path, TRACE_DIR=str(tmp_path / f"node{node}"))
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
    # global rank 0 (either machine: the c10d rendezvous decides) alone writes logs and checkpoints
    written = [tmp_path / f"node{n}" / "work" for n in (0, 1) if (tmp_path / f"node{n}" / "work").exists()]
    assert len(written) == 1
    work = written[0]
    assert sorted(p.name for p in work.glob("iter_*.pth")) == [p.name for p in sorted(reference.glob("iter_*.pth"))]
    a, b = losses(work), losses(reference)
    assert [r["iter"] for r in a] == list(range(1, 7))
    for ra, rb in zip(a, b):
        for k in ("loss", "loss_rpn_cls", "loss_cls", "loss_mask", "lr"):
            assert ra[k] == rb[k], (ra["iter"], k)
    wa, wb = final_weights(work), final_weights(reference)
    assert all(torch.equal(wa[k], wb[k]) for k in wb)


def test_a_killed_worker_is_restarted_and_training_resumes(shapes8: Path, reference: Path, tmp_path: Path) -> None:
    # rank 1 is SIGKILLed right after iteration 5 (the checkpoint of iteration 4 is on disk); no --resume typed
    env = _env(tmp_path, KILL_AT="1:5", TRACE_DIR=str(tmp_path))
    res = _one_machine(shapes8, tmp_path / "work", env, "--max-restarts", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "torchrun restart 1: resuming from the latest checkpoint" in res.stderr
    assert "resumed from" in res.stdout and "iter_00000004.pth at iteration 4" in res.stdout
    trace = (tmp_path / "data_trace.rank1.txt").read_text().split("\n")
    assert [line.split()[0] for line in trace if line] == ["1", "2", "3", "4", "5", "5", "6"]  # 5 ran twice
    wa, wb = final_weights(tmp_path / "work"), final_weights(reference)
    assert all(torch.equal(wa[k], wb[k]) for k in wb)


@pytest.mark.slow
def test_a_killed_worker_on_one_of_two_machines(shapes8: Path, reference: Path, tmp_path: Path) -> None:
    # Each machine's agent counts only its own restarts (the other restarts its worker as a membership
    # change, its count stays 0): both must still join the same new group and both resume.
    port, procs = free_port(), []
    for node in (0, 1):
        (tmp_path / f"node{node}").mkdir()
        cmd = [*RUN, "--nnodes", "2", "--node-rank", str(node), "--nproc-per-node", "1", "--max-restarts", "1",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "test", str(SCRIPT),
               str(TINY), str(shapes8), str(tmp_path / "work"), *OVER]  # fmt: skip
        trace = str(tmp_path / f"node{node}")
        env = _env(tmp_path, KILL_AT="1:5", KILL_MARKER=str(tmp_path / "killed"), TRACE_DIR=trace)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
    assert (tmp_path / "killed").exists() and "iter_00000004.pth at iteration 4" in outs[0] + outs[1]
    for node in (0, 1):
        # either rank in either attempt: the rendezvous numbers the machines each round
        steps = [
            line for f in (tmp_path / f"node{node}").glob("data_trace.rank*.txt") for line in f.read_text().split("\n")
        ]
        assert sorted(line.split()[0] for line in steps if line) == ["1", "2", "3", "4", "5", "5", "6"]
    wa, wb = final_weights(tmp_path / "work"), final_weights(reference)
    assert all(torch.equal(wa[k], wb[k]) for k in wb)


def test_a_hung_rank_ends_the_job_with_a_message(shapes8: Path, tmp_path: Path) -> None:
    # rank 1 stops answering after iteration 2; rank 0 waits in the next collective for 10 s, not forever
    start = time.monotonic()
    res = _one_machine(shapes8, tmp_path / "work", _env(tmp_path, HANG_AT="1:2"), over=("train.dist_timeout_s=10",),
                       timeout=180)  # fmt: skip
    assert res.returncode != 0
    line = "rank 0 of 2: a collective operation did not complete within train.dist_timeout_s=10 s"
    assert line in res.stderr, res.stderr[-3000:]
    assert time.monotonic() - start < 170
