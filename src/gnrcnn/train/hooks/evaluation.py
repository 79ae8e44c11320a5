"""Evaluation as a hook: every ``train.eval_every_epochs`` or ``eval_every_iters``, and at the last iteration
(tag ``final``), on ``--val-ann``; each evaluation is handed to every hook's ``after_eval``.

The final metrics (``trainer.final_metrics``) are the final evaluation's; a run that stopped early ends
with its last evaluation's (those weights were evaluated). A run resumed after it ended (or stopped
early) trains no further and evaluates its weights once more, for the result only."""

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
        if not trainer.args.val_ann:
            return
        if it >= trainer.schedule.total_iters:
            trainer.final_metrics = self._evaluate(trainer, "final")
        elif is_due(trainer.cfg, it, trainer.ipe, trainer.schedule.total_iters):
            self._evaluate(trainer, f"epoch_{it // trainer.ipe}" if t.eval_every_epochs else f"iter_{it}")

    def _evaluate(self, trainer: Trainer, tag: str) -> dict[str, Any]:
        trainer.last_metrics = metrics = trainer.evaluate(tag)
        trainer.hooks.call("after_eval", trainer, metrics, tag)
        return metrics

    def after_train(self, trainer: Trainer, outcome: str) -> None:
        if outcome == "finished" and trainer.args.val_ann and not trainer.final_metrics:
            trainer.final_metrics = trainer.last_metrics or trainer.evaluate("final")
