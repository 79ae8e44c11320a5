"""An exponential moving average of the weights during training (``train.ema_decay``).

``torch.optim.swa_utils.AveragedModel`` keeps the averaged copy (parameters and buffers) and calls
``_average`` after every optimizer step. The decay warms up as TensorFlow's ``ExponentialMovingAverage``
with ``num_updates`` does: ``min(decay, (1 + n) / (10 + n))`` at the n-th update, so that a short
fine-tuning run does not keep most of its starting weights in the average (at decay 0.999 they would
still weigh 37% after 1000 iterations). The copy keeps the model's memory layout (channels_last or not).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_decay_at(decay: float, updates: int) -> float:
    """The decay of the ``updates``-th average (0-based count of earlier averages)."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class EMA:
    """``EMA(model, decay)``; ``update(model)`` after each optimizer step; ``module`` is the averaged model."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.averaged = AveragedModel(model, multi_avg_fn=self._average, use_buffers=True)
        self.averaged.requires_grad_(False)

    def _average(self, ema: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        d = ema_decay_at(self.decay, int(num_averaged))
        if ema[0].is_floating_point():
            torch._foreach_lerp_(ema, current, 1.0 - d)
        else:  # integer buffers (a counter) are not averaged
            torch._foreach_copy_(ema, current)

    @property
    def module(self) -> nn.Module:
        return self.averaged.module

    @property
    def updates(self) -> int:
        return int(self.averaged.n_averaged)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.averaged.update_parameters(model)

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors (NCHW, on the CPU) and an int: loadable with ``weights_only=True``."""
        weights = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        return {"weights": weights, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["weights"])  # copies into the existing (possibly NHWC) tensors
        self.averaged.n_averaged.fill_(int(state["updates"]))
