"""Checkpoints as a hook, and what a training checkpoint holds: saved at every epoch end, every
``train.checkpoint_every_iters``, at the last iteration (or ``--stop-at``) and whenever the run is stopping
(early stop, a signal). It runs after the evaluation and validation hooks, so a checkpoint holds the
verdict of an evaluation of the same iteration.

A training checkpoint (``checkpoint.build``) is the weights with their config, plus the optimizer, the
gradient scaler, every rank's random generators, the iteration, the event writers' state (``events``)
and each hook's state under its name; ``restore`` puts all of it back for ``--resume``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import distributed as dist
from .. import checkpoint as ckpt
from .base import Hook, Trainer

if TYPE_CHECKING:
    from ...data.train_data import Batch


class CheckpointHook(Hook):
    order = 90
    name = "checkpoint"

    def after_step(self, trainer: Trainer, batches: list[Batch]) -> None:
        it, every = trainer.iteration, trainer.cfg.train.checkpoint_every_iters
        if it % trainer.ipe == 0 or it == trainer.end or trainer.stop_reason or (every and it % every == 0):
            save(trainer)


def state_dict(trainer: Trainer) -> dict[str, Any]:
    """The training checkpoint (a collective: every rank takes part, for its random generators)."""
    meta = {"iteration": trainer.iteration, "images_seen": trainer.iteration * trainer.total_batch}
    training = {"optimizer": trainer.optimizer.state_dict(), "iteration": trainer.iteration,
                "scaler": trainer.scaler.state_dict() if trainer.scaler else None,
                "rng": dist.gather_objects(ckpt.rng_state()), "events": trainer.events.state_dict()}  # fmt: skip
    return ckpt.build(trainer.model, trainer.cfg, meta, training, trainer.hooks.state_dict())


def save(trainer: Trainer) -> None:
    """Write a checkpoint of the run now (every rank calls it; the main one writes)."""
    state = state_dict(trainer)
    if trainer.main:
        trainer.last_checkpoint = ckpt.save(trainer.work, trainer.iteration, state,
                                            trainer.cfg.train.keep_checkpoints)  # fmt: skip
    dist.barrier()


def restore(trainer: Trainer, found: tuple[Path, dict[str, Any]] | None) -> int:
    """Put a found checkpoint back in place (weights, optimizer, scaler, generators, writers, hooks); returns
    the iteration to continue from (0 when there was none to resume from)."""
    if found is None:
        if trainer.main:
            print(f"no checkpoint in {trainer.work} to resume from: starting at iteration 0")
        return 0
    path, state = found
    it = ckpt.restore(state, model=trainer.model, optimizer=trainer.optimizer, scaler=trainer.scaler,
                      rank=trainer.rank)  # fmt: skip
    trainer.hooks.load_state_dict(state)
    trainer.events.load_state_dict(state.get("events") or {})
    trainer.last_checkpoint = path
    if trainer.main:
        print(f"resumed from {path} at iteration {it}")
    return it
