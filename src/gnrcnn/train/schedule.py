"""The learning-rate schedule as a pure function of the iteration: linear warm-up, then steps of x0.1.

Being stateless, it resumes exactly: the iteration counter is all that is saved.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config.schema import TrainConfig


@dataclass(frozen=True)
class Schedule:
    base_lr: float  # after linear scaling to the real batch size
    total_iters: int
    warmup_iters: int
    warmup_factor: float
    steps: tuple[int, ...]  # iterations at which the lr is multiplied by 0.1
    iters_per_epoch: int

    def lr(self, it: int) -> float:
        """lr of iteration ``it`` (0-based)."""
        lr = self.base_lr * 0.1 ** sum(it >= s for s in self.steps)
        if it < self.warmup_iters:
            lr *= self.warmup_factor + (1 - self.warmup_factor) * it / self.warmup_iters
        return lr


def scaled_lr(cfg: TrainConfig, total_batch: int) -> float:
    """The linear scaling rule: base_lr at base_batch images per step, proportionally otherwise."""
    return cfg.base_lr * total_batch / cfg.base_batch


def make_schedule(cfg: TrainConfig, iters_per_epoch: int, total_batch: int, max_iters: int | None = None) -> Schedule:
    """Epoch steps become iteration steps. With ``max_iters`` the run is shortened to that many
    iterations, the steps kept at the same fractions of the run and the warm-up at the same fraction
    of the run as of the full schedule (never longer than configured)."""
    if cfg.iters > 0:
        total, steps = cfg.iters, list(cfg.lr_step_iters)
    else:
        total, steps = cfg.epochs * iters_per_epoch, [s * iters_per_epoch for s in cfg.lr_step_epochs]
    warmup = cfg.warmup_iters
    if max_iters is not None:
        steps = [round(s * max_iters / total) for s in steps]
        warmup = min(warmup, round(warmup * max_iters / total))
        total = max_iters
    return Schedule(scaled_lr(cfg, total_batch), total, warmup, cfg.warmup_factor, tuple(steps), iters_per_epoch)
