"""The moving average of the weights (``train.ema_decay`` > 0) as a hook: updated after every optimizer
step, saved in every checkpoint (``ema``), and what is evaluated and saved as the result
(``Trainer.eval_model``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ema import EMA
from .base import Hook, Trainer

if TYPE_CHECKING:
    from ...data.train_data import Batch


class EMAHook(Hook):
    order = 10
    name = "ema"

    def __init__(self, ema: EMA) -> None:
        self.ema = ema

    def after_step(self, trainer: Trainer, batches: list[Batch]) -> None:
        self.ema.update(trainer.model)

    def state_dict(self) -> dict[str, Any]:
        return self.ema.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ema.load_state_dict(state)
