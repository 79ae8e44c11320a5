"""Evaluation as a hook: every ``train.eval_every_epochs`` or ``eval_every_iters`` (never on the last
iteration) and once at the end, on ``--val-ann``; each evaluation is handed to every hook's ``after_eval``.

A run that stopped early ends with the metrics of its last evaluation (those weights were evaluated);
a run resumed after an early stop evaluates its weights once more, for the result only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..best import is_due
from .base import Hook, Trainer

if TYPE_CHECKING:
    from ...data.train_data import Batch


class EvalHook(Hook):
    order = 60
    name = "evaluation"

    def after_step(self, trainer: Trainer, batches: list[Batch]) -> None:
        t, it = trainer.cfg.train, trainer.iteration
        if trainer.args.val_ann and is_due(trainer.cfg, it, trainer.ipe, trainer.schedule.total_iters):
            self._evaluate(trainer, f"epoch_{it // trainer.ipe}" if t.eval_every_epochs else f"iter_{it}")

    def _evaluate(self, trainer: Trainer, tag: str) -> dict[str, Any]:
        trainer.last_metrics = metrics = trainer.evaluate(tag)
        trainer.hooks.call("after_eval", trainer, metrics, tag)
        return metrics

    def after_train(self, trainer: Trainer, outcome: str) -> None:
        if outcome != "finished" or not trainer.args.val_ann:
            return
        if trainer.stop_reason == "early_stop":
            trainer.final_metrics = trainer.last_metrics or trainer.evaluate("final")
            return
        trainer.final_metrics = self._evaluate(trainer, "final")
