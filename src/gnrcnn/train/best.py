"""Validation that acts: evaluations every N epochs or iterations keep the best weights (``best.pth``) by a
chosen metric and end the run after ``patience`` evaluations without improvement.

The state (best value, its iteration, evaluations since) is plain numbers saved in every training
checkpoint, so ``--resume`` continues the count where it was. An evaluation improves on the best only
when it is strictly higher: a flat metric (say, still 0 AP early on) counts against the patience.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from .. import distributed as dist
from ..config.schema import Config
from ..fileio import save_torch_atomic, write_json_atomic
from . import checkpoint

BEST = "best.pth"


@dataclass
class BestTracker:
    metric: str  # "segm.AP", "bbox.AP50", ...
    patience: int  # 0: never stop early
    best: float | None = None
    best_iter: int = -1
    since_best: int = 0  # evaluations since the best one

    def value(self, metrics: dict[str, Any]) -> float:
        iou_type, name = self.metric.split(".")
        return float(metrics[iou_type][name])

    def update(self, value: float, iteration: int) -> bool:
        """Record one evaluation; True when it is the best so far."""
        if self.best is None or value > self.best:
            self.best, self.best_iter, self.since_best = value, iteration, 0
            return True
        self.since_best += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.since_best >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "best": self.best, "best_iter": self.best_iter, "since_best": self.since_best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("metric") != self.metric:  # another metric now: its best starts over
            return
        self.best, self.best_iter, self.since_best = state["best"], int(state["best_iter"]), int(state["since_best"])


def is_due(cfg: Config, iteration: int, iters_per_epoch: int, total: int) -> bool:
    """Whether a periodic evaluation falls on ``iteration`` (never on the last: the final evaluation runs anyway)."""
    t = cfg.train
    if iteration >= total:
        return False
    if t.eval_every_iters:
        return iteration % t.eval_every_iters == 0
    if t.eval_every_epochs:
        return iteration % iters_per_epoch == 0 and (iteration // iters_per_epoch) % t.eval_every_epochs == 0
    return False


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """An evaluation's COCO metrics by one name each: ``{"bbox.AP": ..., "segm.AP50": ...}``."""
    return {f"{t}.{m}": round(v, 5) for t in ("bbox", "segm") for m, v in metrics.get(t, {}).items()
            if isinstance(v, float)}  # fmt: skip


def record_extra(tracker: BestTracker, epoch: float) -> dict[str, Any]:
    """What the ``metrics.jsonl`` line of an evaluation holds beside its metrics: the best so far."""
    return {"epoch": round(epoch, 3), "best_metric": tracker.metric, "best": tracker.best,
            "best_iter": tracker.best_iter, "evals_since_best": tracker.since_best}  # fmt: skip


def write_best(work: Path, model: nn.Module, cfg: Config, tracker: BestTracker, metrics: dict[str, Any]) -> None:
    """``best.pth`` (a gnrcnn checkpoint of the evaluated weights) and ``best.json``, atomically."""
    meta = {"iteration": tracker.best_iter, "best_metric": tracker.metric, "best": tracker.best}
    save_torch_atomic(checkpoint.build(model, cfg, meta), work / BEST)
    write_json_atomic({**meta, "metrics": metrics}, work / "best.json", "metrics", indent=2)


def update_on_every_rank(tracker: BestTracker, metrics: dict[str, Any], iteration: int) -> bool:
    """Rank 0 holds the metrics; every rank takes its verdict, so all stop together. True if improved."""
    improved = tracker.update(tracker.value(metrics), iteration) if dist.is_main() else False
    state, improved = dist.gather_objects((tracker.state_dict(), improved))[0]  # type: ignore[misc]
    tracker.load_state_dict(state)
    return bool(improved)
