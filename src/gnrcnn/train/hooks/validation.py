"""What an evaluation does to the run, as a hook: its ``val`` record (to every writer) and, with periodic
evaluations on, ``best.pth`` when the best metric improves and the early stop after ``train.early_stop``
evaluations without improvement (``train/best.py``). Its state, the best value, its iteration and the
evaluations since, is saved in every checkpoint (``validation``), so a resumed run stops where an
uninterrupted one would; a run resumed after an early stop trains no further."""

from __future__ import annotations

from typing import Any

from ..best import BestTracker, flat_metrics, record_extra, update_on_every_rank, write_best
from .base import Hook, Trainer


class ValidationHook(Hook):
    order = 70
    name = "validation"

    def __init__(self, tracker: BestTracker, periodic: bool) -> None:
        self.tracker, self.periodic = tracker, periodic

    def before_train(self, trainer: Trainer) -> None:
        if self.tracker.should_stop:
            trainer.request_stop("early_stop")

    def after_eval(self, trainer: Trainer, metrics: dict[str, Any], tag: str) -> None:
        if not metrics:
            return
        it, tr = trainer.iteration, self.tracker
        if self.periodic and update_on_every_rank(tr, metrics, it) and trainer.main:
            write_best(trainer.work, trainer.eval_model, trainer.cfg, tr, metrics)
        trainer.events.put_scalars(flat_metrics(metrics), "val", **record_extra(tr, it / trainer.ipe))
        if not self.periodic:
            return
        trainer.events.message(f"iteration {it}: box AP {metrics['bbox']['AP']:.3f}, mask AP "
                               f"{metrics['segm']['AP']:.3f}; best {tr.metric} {tr.best:.3f} at iteration "
                               f"{tr.best_iter}")  # fmt: skip
        if tr.should_stop and tag != "final":
            trainer.request_stop("early_stop")
            trainer.events.message(
                f"early stop at iteration {it}: {tr.metric} has not improved in {tr.patience} evaluations; the "
                f"best, {tr.best:.4f} at iteration {tr.best_iter}, is {trainer.work / 'best.pth'}"
            )

    def state_dict(self) -> dict[str, Any]:
        return self.tracker.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tracker.load_state_dict(state)
