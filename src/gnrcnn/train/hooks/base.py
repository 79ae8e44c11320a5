"""Hooks: what the training loop calls at fixed points, the loop's own work and a user's alike.

The points, in the order a run meets them::

    before_train(trainer)                      after resuming, before the first step
    before_step(trainer)                       the batches are loaded, the step not yet taken
    after_step(trainer, batches)               after each optimizer step (``trainer.iteration`` counts it)
    after_eval(trainer, metrics, tag)          after each evaluation (``tag``: "iter_500", "epoch_2", "final")
    after_train(trainer, outcome)              always, last: "finished", "paused" (--stop-at),
                                               "interrupted" (SIGTERM, Ctrl-C) or "failed"

Hooks run in ascending ``order`` (ties: the order given). The loop's own, and where a user's (order 50
by default) falls among them::

    10 ema          the moving average of the weights
    20 log          losses and lr to the event store, the progress bar, config.yaml and the data record
    50              a user's hooks
    60 evaluation   periodic and final evaluations
    70 validation   best.pth, the early stop, the evaluation's line and record
    80 signals      SIGTERM / Ctrl-C: the run stops after this step
    90 checkpoint   a checkpoint when due (and when the run stops)
    95 final        model_final.pth, metrics.json, the loss curve

A hook with state returns it from ``state_dict`` (plain numbers, strings, tensors); it is saved under
the hook's ``name`` in every training checkpoint and handed back to ``load_state_dict`` on ``--resume``,
so a resumed run continues exactly. A hook that raises ends the run with one line naming it; the last
checkpoint is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ...distributed.elastic import is_collective_failure
from ...errors import GnrcnnError

if TYPE_CHECKING:
    from ...data.train_data import Batch

# gnrcnn.train.trainer.Trainer, which imports the hooks (so they do not import it, not even for typing)
Trainer = Any


class Hook:
    """Subclass and override the points you need; every point does nothing by default."""

    order: int = 50
    name: str = ""  # default: the class name; the key of the hook's state in a checkpoint

    def before_train(self, trainer: Trainer) -> None:
        pass

    def before_step(self, trainer: Trainer) -> None:
        pass

    def after_step(self, trainer: Trainer, batches: list[Batch]) -> None:
        pass

    def after_eval(self, trainer: Trainer, metrics: dict[str, Any], tag: str) -> None:
        pass

    def after_train(self, trainer: Trainer, outcome: str) -> None:
        pass

    def state_dict(self) -> dict[str, Any] | None:
        """None: nothing to save."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class CallbackHook(Hook):
    """A plain function ``f(trainer, batches)`` called after every step."""

    def __init__(self, fn: Callable[[Trainer, list[Batch]], None]) -> None:
        self.fn = fn
        self.name = getattr(fn, "__name__", type(fn).__name__)

    def after_step(self, trainer: Trainer, batches: list[Batch]) -> None:
        self.fn(trainer, batches)


class HookError(GnrcnnError):
    """A hook raised: the message names it, what it raised and the checkpoint a ``--resume`` continues from."""


def name_of(hook: Hook) -> str:
    return hook.name or type(hook).__name__


class Hooks:
    """The run's hooks in their order, called together at each point."""

    def __init__(self, hooks: Sequence[Hook | Callable[..., None]]) -> None:
        as_hooks = [h if isinstance(h, Hook) else CallbackHook(h) for h in hooks]
        self.hooks = sorted(as_hooks, key=lambda h: h.order)  # stable: ties keep the order given
        names = [name_of(h) for h in self.hooks if type(h).state_dict is not Hook.state_dict]  # the ones with state
        if dup := sorted({n for n in names if names.count(n) > 1}):
            raise GnrcnnError(f"two hooks with state are named {dup[0]!r}: give each a distinct `name` (it keys "
                              "its state in the checkpoint)")  # fmt: skip

    def __iter__(self):  # noqa: ANN204 - an iterator of Hook
        return iter(self.hooks)

    def names(self) -> list[str]:
        return [name_of(h) for h in self.hooks]

    def call(self, point: str, trainer: Trainer, *args: Any) -> None:
        for hook in self.hooks:
            _run(hook, point, trainer, args)

    def call_all(self, point: str, trainer: Trainer, *args: Any) -> None:
        """Every hook, even after one raised (the end of a run: writers must close); the first error is raised."""
        error: BaseException | None = None
        for hook in self.hooks:
            try:
                _run(hook, point, trainer, args)
            except Exception as e:
                error = error or e
        if error is not None:
            raise error

    def state_dict(self) -> dict[str, Any]:
        return {name_of(h): s for h in self.hooks if (s := h.state_dict()) is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for h in self.hooks:
            if name_of(h) in state and state[name_of(h)] is not None:
                h.load_state_dict(state[name_of(h)])


def _run(hook: Hook, point: str, trainer: Trainer, args: tuple[Any, ...]) -> None:
    try:
        getattr(hook, point)(trainer, *args)
    except HookError:
        raise
    except Exception as e:
        if is_collective_failure(e):  # a hung or lost rank: the trainer says so in its own words
            raise
        what = str(e) if isinstance(e, GnrcnnError) else f"{type(e).__name__}: {e}"
        kept = trainer.last_checkpoint
        tail = f"the last checkpoint, {kept}, is kept: --resume continues from it" if kept else "no checkpoint yet"
        raise HookError(f"hook {name_of(hook)!r} failed in {point} at iteration {trainer.iteration}: "
                        f"{' '.join(what.split())}; {tail}") from e  # fmt: skip
