"""One optimizer step, the same for ``Trainer`` and for ``gnrcnn bench``'s training speed: forward under
autocast, the losses checked, backward (scaled for fp16), gradient accumulation without DDP syncs but the
last, clipping and the optimizer step (the EMA of the weights follows it as a hook: ``hooks/ema.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .. import runtime
from ..structures import Targets

Inputs = tuple[torch.Tensor, torch.Tensor, Targets]  # normalised images, their sizes, targets: on the device


def make_scaler(amp: str | None) -> torch.amp.GradScaler | None:
    """fp16 needs its losses scaled; bf16 and fp32 do not."""
    return torch.amp.GradScaler("cuda") if amp == "fp16" else None


class OptimizerStep:
    """``step(batches, lr, inputs)`` -> the mean of each loss over ``batches`` (one optimizer step).

    ``net`` is the model or its ``DistributedDataParallel`` wrapper; ``inputs`` turns one batch into
    the network's inputs (called as each batch's turn comes, so only one is on the device at a time);
    ``check`` sees each batch's losses before backward (``loss_guard.check_finite``).
    """

    def __init__(
        self, net: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device, *, amp: str | None = None,
        scaler: torch.amp.GradScaler | None = None, clip_norm: float = 0.0,
    ) -> None:  # fmt: skip
        self.net, self.optimizer, self.device, self.amp = net, optimizer, device, amp
        self.scaler, self.clip_norm = scaler, clip_norm
        self.model = net.module if isinstance(net, DistributedDataParallel) else net
        self.clip_params = [p for p in self.model.parameters() if p.requires_grad] if clip_norm > 0 else []

    def __call__(
        self, batches: Sequence[Any], lr: float | None, inputs: Callable[[Any], Inputs],
        check: Callable[[Any, dict[str, torch.Tensor]], None] | None = None,
    ) -> dict[str, float]:  # fmt: skip
        if lr is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        sums: dict[str, float] = {}
        ddp = isinstance(self.net, DistributedDataParallel)
        for i, batch in enumerate(batches):
            with nullcontext() if i == len(batches) - 1 or not ddp else self.net.no_sync():  # type: ignore[operator]
                images, sizes, targets = inputs(batch)
                with runtime.autocast(self.device, self.amp):
                    losses = self.net(images, sizes, targets)
                if check is not None:
                    check(batch, losses)
                total = sum(losses.values()) / len(batches)
                (self.scaler.scale(total) if self.scaler else total).backward()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) / len(batches)
        sums["loss"] = sum(sums.values())
        self._apply(sums)
        return sums

    def _apply(self, sums: dict[str, float]) -> None:
        """Clip (the norm before clipping goes into ``sums``), step, zero the gradients."""
        if self.clip_params:
            if self.scaler:
                self.scaler.unscale_(self.optimizer)
            sums["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.clip_params, self.clip_norm))
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
