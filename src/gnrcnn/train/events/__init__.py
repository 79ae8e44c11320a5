"""What a training run reports: one event store (``store.py``) and its writers: ``metrics.jsonl``
(``jsonl.py``), the console (``console.py``), TensorBoard (``tensorboard.py``), MLflow (``mlflow_writer.py``);
the loss curve drawn from ``metrics.jsonl`` (``loss_curve.py``)."""

from __future__ import annotations

from pathlib import Path

from ...config.schema import Config
from .console import ConsoleWriter
from .jsonl import JsonWriter
from .store import EventStore, Writer
from .tensorboard import tensorboard_writer

__all__ = ["EventStore", "Writer", "make_writers"]


def make_writers(work_dir: Path, cfg: Config, total_iters: int, main: bool) -> list[Writer]:
    """The main process's writers (the others have none): metrics.jsonl first (the loss curve reads it),
    the console, TensorBoard when installed, MLflow when ``train.mlflow_uri`` is set."""
    if not main:
        return []
    writers: list[Writer] = [JsonWriter(work_dir), ConsoleWriter(total_iters)]
    if (tb := tensorboard_writer(work_dir)) is not None:
        writers.append(tb)
    if cfg.train.mlflow_uri:
        from .mlflow_writer import MlflowWriter

        writers.append(MlflowWriter(cfg, work_dir))
    return writers
