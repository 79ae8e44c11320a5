"""MLflow as a writer (``--mlflow URI`` / ``train.mlflow_uri``; ``pip install gnrcnn[mlflow]``).

One MLflow run per training run, in experiment ``train.mlflow_experiment``, named after the work folder:
the resolved config as params (``model.backbone.depth``, ...), the data record as ``data.*`` params and
``data_summary.json``, each iteration's losses and lr (``train/*``, this process's), every evaluation's
COCO metrics (``val/*``), a user's scalars (``<group>/*``) and pictures (``images/<name>/``), and at the end
``loss_curve.png`` and the final and best weights (``weights/``). The run ends FINISHED, FAILED, or KILLED
(a signal, ``--stop-at``); its id is saved in every training checkpoint, so ``--resume`` continues it.

The calls go out from a thread of their own, so training never waits on the network. A server that is
down at the start, or goes away during the run, costs one warning line: the rest of the run is not sent
and training goes on (``metrics.jsonl`` holds everything). ``runtime.mlflow_patience`` bounds each call.
"""

from __future__ import annotations

import queue
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ... import runtime
from ...config.schema import Config
from .store import Artifact, Event, Image, Record, Scalars

STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED", "paused": "KILLED"}
JOIN_S = 300.0  # the longest the end of a run waits for the last calls (the weights' upload)
MAX_VALUE = 6000  # MLflow's longest param value


def flat_params(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"model": {"backbone": {"depth": 50}}}`` -> ``{"model.backbone.depth": "50"}``."""
    out: dict[str, str] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(flat_params(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = str(v)[:MAX_VALUE]
    return out


class MlflowWriter:
    name = "mlflow"

    def __init__(self, cfg: Config, work_dir: Path) -> None:
        self.uri, self.experiment, self.work = cfg.train.mlflow_uri, cfg.train.mlflow_experiment, work_dir
        self.params = flat_params(cfg.to_dict())
        self.run_id: str | None = None  # set from the checkpoint when resuming
        self.new_run = False
        self.client: Any = None
        self.calls: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.failed = False

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id} if self.run_id else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.run_id = state.get("run_id") or None

    def open(self, start: int) -> None:
        runtime.mlflow_patience()
        try:
            from mlflow import MlflowClient
        except ImportError:
            self._fail("the mlflow client is not installed (pip install gnrcnn[mlflow])")
            return
        try:
            self.client = MlflowClient(self.uri)
            if self.run_id is not None:  # --resume: the same run goes on
                self.client.update_run(self.run_id, status="RUNNING")
            else:
                self.run_id, self.new_run = self._create_run(), True
        except Exception as e:
            self._fail(e)
            return
        if self.new_run:
            self.calls.put(("params", self.params))
        tqdm.write(f"MLflow: {'run' if self.new_run else 'continuing run'} {self.run_id} (experiment "
                   f"'{self.experiment}') at {self.uri}", file=sys.stdout)  # fmt: skip
        self.thread = threading.Thread(target=self._send, name="gnrcnn-mlflow", daemon=True)
        self.thread.start()

    def _create_run(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment)
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(self.experiment)
        tags = {"gnrcnn.work_dir": str(self.work.resolve()), "gnrcnn.config": self.params.get("name", "")}
        return self.client.create_run(exp_id, run_name=self.work.resolve().name, tags=tags).info.run_id

    def write(self, event: Event) -> None:
        if self.thread is None or self.failed:
            return
        if isinstance(event, Scalars) and event.group != "train":  # "train": window means of what "iter" sent
            prefix = "train" if event.group == "iter" else event.group
            ms = round(time.time() * 1000)
            self.calls.put(("metrics", [(f"{prefix}/{k}", v, ms, event.iteration) for k, v in event.values.items()]))
        elif isinstance(event, Image):
            self.calls.put(("artifact", (event.path, f"images/{event.name}")))
        elif isinstance(event, Artifact):
            self.calls.put(("artifact", (event.path, "weights" if event.path.suffix == ".pth" else None)))
        elif isinstance(event, Record) and event.key == "data" and self.new_run:
            scalars = {k: v for k, v in event.value.items() if isinstance(v, (int, str))}
            self.calls.put(("params", flat_params({"data": {**scalars, "classes": ", ".join(event.value["classes"])}})))
            self.calls.put(("dict", (event.value, "data_summary.json")))

    def _send(self) -> None:
        """The thread: each call in order (metrics gathered into batches); the first failure ends the sending."""
        from mlflow.entities import Metric, Param

        while (call := self.calls.get()) is not None:
            if self.failed:
                continue
            kind, arg = call
            try:
                if kind == "metrics":
                    while len(arg) < 900 and (more := self._next_metrics()) is not None:
                        arg = arg + more
                    self.client.log_batch(self.run_id, metrics=[Metric(*m) for m in arg])
                elif kind == "params":
                    items = [Param(k, v) for k, v in arg.items()]
                    for i in range(0, len(items), 100):  # MLflow takes 100 params per call
                        self.client.log_batch(self.run_id, params=items[i : i + 100])
                elif kind == "artifact":
                    self.client.log_artifact(self.run_id, str(arg[0]), arg[1])
                elif kind == "dict":
                    self.client.log_dict(self.run_id, *arg)
                elif kind == "end":
                    self.client.set_terminated(self.run_id, arg)
            except Exception as e:
                self._fail(e)

    def _next_metrics(self) -> list[tuple[str, float, int, int]] | None:
        """The next queued call if it is metrics too (to send with the current batch), else None (it stays)."""
        with self.calls.mutex:
            if self.calls.queue and (head := self.calls.queue[0]) is not None and head[0] == "metrics":
                self.calls.queue.popleft()
                return head[1]
        return None

    def _fail(self, error: Exception | str) -> None:
        if not self.failed:
            self.failed = True
            why = " ".join(str(error).split())
            if cause := re.search(r"\[Errno -?\d+\] [^\"')]+", why):  # urllib3's long chain: its root cause
                why = f"cannot reach the server ({cause.group(0)})"
            why = why if len(why) <= 200 else why[:200] + "..."
            tqdm.write(f"warning: MLflow at {self.uri}: {why}; training goes on without it (metrics.jsonl keeps "
                       "every metric)", file=sys.stderr)  # fmt: skip

    def close(self, outcome: str) -> None:
        if self.thread is None:
            return
        self.calls.put(("end", STATUS.get(outcome, "FAILED")))
        self.calls.put(None)
        self.thread.join(JOIN_S)
        if self.thread.is_alive():
            self._fail(f"still sending after {JOIN_S:.0f} s at the end of the run; the rest is not sent")
        self.thread = None
