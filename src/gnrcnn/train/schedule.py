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
    notes: tuple[str, ...] = ()  # what was changed to fit the run (a warm-up as long as it, steps past its end)

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
    of the run as of the full schedule (never longer than configured). Then the schedule is fitted to
    the run, each change said in one line (``notes``): a warm-up as long as the run or longer (the lr would
    never reach its value) is capped at a quarter of the run, and steps at or past its last iteration
    (which would never apply) are left out."""
    if cfg.iters > 0:
        total, steps = cfg.iters, list(cfg.lr_step_iters)
    else:
        total, steps = cfg.epochs * iters_per_epoch, [s * iters_per_epoch for s in cfg.lr_step_epochs]
    warmup = cfg.warmup_iters
    if max_iters is not None:
        steps = [round(s * max_iters / total) for s in steps]
        warmup = min(warmup, round(warmup * max_iters / total))
        total = max_iters
    notes = []
    if warmup >= total > 0:
        notes.append(f"note: a warm-up of {warmup} iterations is not shorter than the run's {total}: capped at "
                     f"{total // 4}, a quarter of the run (train.warmup_iters)")  # fmt: skip
        warmup = total // 4
    if late := [s for s in steps if s >= total]:
        notes.append(f"note: lr steps at iterations {late} come at or after the end of the run (iteration {total}) "
                     "and would never apply: left out (train.lr_step_epochs / lr_step_iters)")  # fmt: skip
        steps = [s for s in steps if s < total]
    lr = scaled_lr(cfg, total_batch)
    return Schedule(lr, total, warmup, cfg.warmup_factor, tuple(steps), iters_per_epoch, tuple(notes))
