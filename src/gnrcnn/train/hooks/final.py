"""The end of a finished run as a hook, after the last step's evaluation and checkpoint (or, for a run
resumed after it ended, at the end of training): ``model_final.pth`` (and ``.safetensors``) of the
evaluated weights, ``metrics.json`` of the final evaluation, ``loss_curve.png``, and the result files
handed to the writers as artifacts (MLflow keeps them). A user's ``after_train`` finds them written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import distributed as dist
from ...fileio import write_json_atomic
from .. import checkpoint, final_weights
from ..best import BEST
from ..events.loss_curve import plot_losses
from .base import Hook, Trainer

if TYPE_CHECKING:
    from ...data.train_data import Batch


class FinalHook(Hook):
    order = 95
    name = "final"

    def __init__(self) -> None:
        self.done = False

    def after_step(self, trainer: Trainer, batches: list[Batch]) -> None:
        if trainer.stop_reason == "interrupted":  # a signal at the last step: --resume finishes the run
            return
        if trainer.iteration >= trainer.schedule.total_iters or trainer.stop_reason == "early_stop":
            self._finish(trainer)

    def after_train(self, trainer: Trainer, outcome: str) -> None:
        if outcome == "finished" and not self.done:
            self._finish(trainer)

    def _finish(self, trainer: Trainer) -> None:
        self.done = True
        if trainer.stop_reason == "early_stop" and not trainer.final_metrics:
            trainer.final_metrics = trainer.last_metrics or trainer.evaluate("final")
        if trainer.main:
            work, stopped = trainer.work, trainer.stop_reason == "early_stop"
            meta = {"iteration": trainer.iteration, "ema": trainer.ema is not None, "stopped_early": stopped}
            final = final_weights.save(checkpoint.build(trainer.eval_model, trainer.cfg, meta), work)
            curve = work / "loss_curve.png"
            plotted = plot_losses(work / "metrics.jsonl", curve)
            if trainer.final_metrics:
                write_json_atomic(trainer.final_metrics, work / "metrics.json", "metrics", indent=2)
            for path in (final, work / BEST, curve if plotted else None):
                if path is not None and path.exists():
                    trainer.events.put_artifact(path)
        dist.barrier()
