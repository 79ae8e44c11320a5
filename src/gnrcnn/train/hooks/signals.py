"""SIGTERM and Ctrl-C as a hook (``train/interrupt.py``'s ``StopSignals``): a signal is recorded, the step in
flight finishes, the checkpoint hook saves, and the run ends with ``TrainingInterruptedError`` (exit
status 128 + the signal); the handlers go with the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..interrupt import StopSignals
from .base import Hook, Trainer

if TYPE_CHECKING:
    from ...data.train_data import Batch


class SignalHook(Hook):
    order = 80
    name = "signals"

    def __init__(self) -> None:
        self.stop = StopSignals()

    def before_train(self, trainer: Trainer) -> None:
        self.stop.install()

    def after_step(self, trainer: Trainer, batches: list[Batch]) -> None:
        if self.stop.requested(trainer.device):  # a collective under torchrun: every rank asks after every step
            trainer.request_stop("interrupted", lambda: self.stop.error(trainer.iteration, trainer.schedule.total_iters,
                                                                        trainer.last_checkpoint))  # fmt: skip

    def after_train(self, trainer: Trainer, outcome: str) -> None:
        self.stop.restore()
