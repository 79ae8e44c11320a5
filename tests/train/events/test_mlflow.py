"""Runs tracked in MLflow, against a real `mlflow server` (SQLite backend, artifacts folder, 127.0.0.1 on a
free port) started once for this module, read back through MLflow's own client: a finished run, a
SIGTERMed one continued by --resume (bit-exact with hooks and MLflow on), and a server that goes away
mid-run or is down from the start (one warning line, training goes on)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gnrcnn
from gnrcnn.cli import main
from gnrcnn.train.hooks import Hook, HookError
from gnrcnn.train.interrupt import TrainingInterruptedError
from gnrcnn.weights import load_weights_file

from conftest import TINY

mlflow = pytest.importorskip("mlflow")  # the [mlflow] extra's client; `make test` installs the server too

RUN = {"eval_every": "2it", "max_iters": 4, "num_workers": 0}
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
               "--artifacts-destination", str(folder / "artifacts")]  # fmt: skip
        self.log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed by stop()
        # a session of its own: stop() ends the server and the uvicorn process it starts, and nothing else
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, **QUIET})  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        pytest.fail(f"mlflow server did not start within 180 s: {(folder / 'server.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with pytest.MonkeyPatch.context() as mp:
        for k, v in QUIET.items():
            mp.setenv(k, v)
        s = Server(tmp_path_factory.mktemp("mlflow_server"))
        yield s
        s.stop()


class Pictures(Hook):
    """A user's hook: a scalar every step, a picture at iteration 2; a SIGTERM to itself at ``term_at``."""

    def __init__(self, term_at: int = 0) -> None:
        self.term_at = term_at

    def after_step(self, trainer, batches) -> None:
        trainer.events.put_scalar("steps", trainer.iteration, group="custom")
        if trainer.iteration == 2:
            trainer.events.put_image("grey", np.full((8, 8, 3), 128, np.uint8))
        if trainer.iteration == self.term_at:
            os.kill(os.getpid(), signal.SIGTERM)


def _train(shapes8: Path, work: Path, uri: str, experiment: str, hook: Hook, **kw: Any) -> Any:
    return gnrcnn.train_model(TINY, data_root=shapes8, ann=shapes8 / "annotations" / "train.json",
                              val_ann=shapes8 / "annotations" / "val.json", work_dir=work, callbacks=[hook],
                              device="cpu", mlflow=uri, overrides=[f"train.mlflow_experiment={experiment}"],
                              **{**RUN, **kw})  # fmt: skip


def _the_run(client: Any, experiment: str) -> Any:
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


def _artifacts(client: Any, run_id: str, path: str | None = None) -> set[str]:
    out = set()
    for f in client.list_artifacts(run_id, path):
        out |= _artifacts(client, run_id, f.path) if f.is_dir else {f.path}
    return out


@pytest.fixture(scope="module")
def finished(server: Server, shapes8: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    work = tmp_path_factory.mktemp("mlflow_finished")
    return work, _train(shapes8, work, server.uri, "finished", Pictures())


def test_a_finished_run_holds_params_metrics_artifacts_and_status(server: Server, finished) -> None:
    work, result = finished
    assert result.outcome == "finished"
    client = mlflow.MlflowClient(server.uri)
    run = _the_run(client, "finished")
    assert run.info.status == "FINISHED" and run.info.run_name == work.name
    params = run.data.params
    assert params["model.backbone.depth"] == "18" and params["train.eval_every_iters"] == "2"
    assert params["data.images"] == "8"
    assert params["data.classes"] == "circle, triangle, rectangle"
    history = {k: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)]
               for k in ("train/loss", "train/lr", "train/loss_mask", "val/segm.AP", "custom/steps")}  # fmt: skip
    assert [s for s, _ in history["train/loss"]] == [1, 2, 3, 4]
    assert [s for s, _ in history["val/segm.AP"]] == [2, 4]
    assert history["val/segm.AP"][-1][1] == pytest.approx(result.metrics["segm"]["AP"], abs=1e-5)
    assert history["custom/steps"] == [(i, float(i)) for i in (1, 2, 3, 4)]
    assert _artifacts(client, run.info.run_id) == {"data_summary.json", "loss_curve.png", "weights/model_final.pth",
                                                   "weights/best.pth", "images/grey/iter_00000002.png"}  # fmt: skip


def test_a_sigtermed_run_is_killed_and_resume_continues_it_bit_exactly(
    server: Server, finished, shapes8: Path, tmp_path: Path
) -> None:
    with pytest.raises(TrainingInterruptedError, match="stopped by SIGTERM after iteration 3 of 4"):
        _train(shapes8, tmp_path, server.uri, "stopped", Pictures(term_at=3))
    client = mlflow.MlflowClient(server.uri)
    run = _the_run(client, "stopped")
    assert run.info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == [1, 2, 3]
    assert "weights/model_final.pth" not in _artifacts(client, run.info.run_id)
    resumed = _train(shapes8, tmp_path, server.uri, "stopped", Pictures(), resume=True)
    again = _the_run(client, "stopped")  # the same run, continued
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    straight, resumed_run = (_the_run(client, name).info.run_id for name in ("finished", "stopped"))
    losses = [[(m.step, m.value) for m in client.get_metric_history(r, "train/loss")] for r in (straight, resumed_run)]
    assert losses[0] == losses[1]  # steps 1..4 once each, the same values
    a = load_weights_file(finished[1].final).state_dict
    b = load_weights_file(resumed.final).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_that_fails_is_failed(server: Server, shapes8: Path, tmp_path: Path) -> None:
    class Boom(Hook):
        def after_step(self, trainer, batches) -> None:
            raise ValueError("boom")

    with pytest.raises(HookError, match="hook 'Boom' failed in after_step at iteration 1: ValueError: boom"):
        gnrcnn.train_model(TINY, data_root=shapes8, ann=shapes8 / "annotations" / "train.json", work_dir=tmp_path,
                           callbacks=[Boom()], max_iters=2, device="cpu", mlflow=server.uri,
                           overrides=["train.mlflow_experiment=failed"])  # fmt: skip
    client = mlflow.MlflowClient(server.uri)
    run = _the_run(client, "failed")
    assert run.info.status == "FAILED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == [1]


def test_a_server_that_goes_away_or_is_down_costs_one_warning_line(
    server: Server, shapes8: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Last in this module: it stops the module's server, mid-run, then trains against it stopped."""

    class StopServer(Hook):
        def after_step(self, trainer, batches) -> None:
            if trainer.iteration == 1:
                server.stop()

    result = gnrcnn.train_model(TINY, data_root=shapes8, ann=shapes8 / "annotations" / "train.json",
                                work_dir=tmp_path / "away", callbacks=[StopServer()], max_iters=3, device="cpu",
                                mlflow=server.uri)  # fmt: skip
    assert result.outcome == "finished" and result.final.exists()
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if not line.startswith("train: ")]  # all but the progress lines
    assert len(warned) == 1 and warned[0].startswith(f"warning: MLflow at {server.uri}: "), err[-3000:]
    assert warned[0].endswith("training goes on without it (metrics.jsonl keeps every metric)")
    work = tmp_path / "down"
    cmd = ["train", "--config", str(TINY), "--data-root", str(shapes8), "--ann",
           str(shapes8 / "annotations" / "train.json"), "--work-dir", str(work), "--max-iters", "2", "--device", "cpu",
           "--mlflow", server.uri]  # fmt: skip
    assert main(cmd) == 0 and (work / "model_final.pth").exists()
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if not line.startswith("train: ")]
    assert warned == [f"warning: MLflow at {server.uri}: cannot reach the server ([Errno 111] Connection refused); "
                      "training goes on without it (metrics.jsonl keeps every metric)"], err[-3000:]  # fmt: skip
