"""What a training run is given (``TrainArgs``: the options of ``gnrcnn train`` that are not config values)
and what it returns (``TrainResult``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.schema import Config


@dataclass(kw_only=True)
class TrainArgs:
    data_root: str
    ann: str
    work_dir: str
    val_data_root: str | None = None
    val_ann: str | None = None
    weights: str | None = None
    backbone_weights: str | None = None
    resume: bool | str = False  # True: the latest good checkpoint in work_dir; a str: that file
    max_iters: int | None = None
    stop_at: int | None = None  # leave (with a checkpoint) at this iteration; --resume continues the schedule
    device: str = "cpu"
    amp: str | None = None
    overwrite: bool = False  # clear an earlier run's files (RUN_FILES) from work_dir instead of refusing it


# What a run leaves in its work dir: a new run (no --resume) refuses a folder holding any of them, or with
# --overwrite clears them (output_dir.claim); the user's other files there are left alone.
RUN_FILES = ("iter_*.pth", "latest", "model_final.pth", "model_final.safetensors", "best.pth", "best.json",
             "metrics.jsonl", "metrics.json", "config.yaml", "data_summary.json", "loss_curve.png",
             "eval", "tb")  # fmt: skip


@dataclass(frozen=True)
class TrainResult:
    """How a run ended: ``outcome`` "finished" (the schedule's end or an early stop) or "paused" (``stop_at``;
    a signal raises ``TrainingInterruptedError`` instead)."""

    outcome: str
    iteration: int  # the iteration it stopped at
    metrics: dict[str, Any]  # the final evaluation's (empty without --val-ann, or when paused)
    final: Path | None  # model_final.pth (a finished run)
    best: Path | None  # best.pth (kept by periodic evaluations)
    stopped_early: bool
    work_dir: Path
    config: Config  # the config trained, with the dataset's classes
    iters_per_epoch: int
    main: bool  # this process writes the results (rank 0 under torchrun)
