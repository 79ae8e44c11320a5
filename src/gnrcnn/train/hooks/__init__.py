"""The training loop's hooks: the mechanism (``base.py``), the loop's own behaviours as hooks, and the
list a run starts with (``default_hooks``). A user's hook subclasses ``Hook`` (docs/training.md, "Hooks")."""

from __future__ import annotations

from ..best import BestTracker
from .base import CallbackHook, Hook, HookError, Hooks, Trainer
from .checkpointing import CheckpointHook
from .ema import EMAHook
from .evaluation import EvalHook
from .final import FinalHook
from .log import LogHook
from .signals import SignalHook
from .validation import ValidationHook

__all__ = ["CallbackHook", "Hook", "HookError", "Hooks", "default_hooks"]


def default_hooks(trainer: Trainer) -> list[Hook]:
    """The loop's own work, in its order (``base.py`` lists it)."""
    t = trainer.cfg.train
    periodic = bool(trainer.args.val_ann and (t.eval_every_epochs or t.eval_every_iters))
    hooks: list[Hook] = [EMAHook(trainer.ema)] if trainer.ema is not None else []
    return [*hooks, LogHook(), EvalHook(), ValidationHook(BestTracker(t.best_metric, t.early_stop), periodic),
            SignalHook(), CheckpointHook(), FinalHook()]  # fmt: skip
