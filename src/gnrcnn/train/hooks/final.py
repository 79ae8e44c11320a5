"""The end of a finished run as a hook: ``model_final.pth`` (and ``.safetensors``) of the evaluated weights,
``metrics.json`` of the final evaluation, ``loss_curve.png``, and the result files handed to the writers
as artifacts (MLflow keeps them)."""

from __future__ import annotations

from ... import distributed as dist
from ...fileio import write_json_atomic
from .. import checkpoint, final_weights
from ..best import BEST
from ..events.loss_curve import plot_losses
from .base import Hook, Trainer


class FinalHook(Hook):
    order = 95
    name = "final"

    def after_train(self, trainer: Trainer, outcome: str) -> None:
        if outcome != "finished":
            return
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
