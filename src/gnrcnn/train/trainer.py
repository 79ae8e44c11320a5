"""The training loop: ``Trainer(cfg, args, hooks).fit()``, on a CPU, a GPU or many (torchrun).

One iteration is one optimizer step over ``accumulate`` batches (``step.py``). Everything else the loop
does is a hook (``hooks/``): the EMA of the weights, logging and progress, evaluations, ``best.pth`` and
the early stop, SIGTERM, checkpoints and the final weights, in that order, with a user's hooks among
them. What the hooks report goes to one event store (``events/``) read by every writer. ``--resume``
continues exactly where the last good checkpoint left off: weights, optimizer, scaler, random
generators, iteration (the data order follows from it), the writers' state and every hook's state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from .. import distributed as dist
from .. import runtime
from ..config.schema import Config
from ..data.preprocess import Normalizer
from ..data.train_data import Batch
from ..distributed import elastic
from ..errors import GnrcnnError
from ..evaluation.ground_truth import GroundTruth
from ..output_dir import claim
from ..predict.detector import Detector
from . import checkpoint as ckpt
from .args import RUN_FILES, TrainArgs, TrainResult
from .best import BEST
from .ema import EMA
from .events import EventStore, make_writers
from .hooks import Hook, Hooks, default_hooks
from .hooks.checkpointing import restore
from .loss_guard import check_finite
from .schedule import make_schedule
from .setup import batch_groups, load_dataset, make_loader, make_model, make_optimizer, seed_everything, with_classes
from .step import Inputs, OptimizerStep, make_scaler


class Trainer:
    """``cfg`` is not changed: the trainer keeps its own copy, with the dataset's classes. ``hooks``: a user's
    ``Hook`` objects (or plain functions ``f(trainer, batches)``, called after every step)."""

    def __init__(self, cfg: Config, args: TrainArgs, hooks: Sequence[Hook | Callable[..., None]] = ()) -> None:
        # Under torchrun the trainer joins the process group here and leaves it when ``fit`` ends (or ``close``).
        self.owns_group = not dist.initialized()
        self.device = dist.setup(args.device, cfg.train.dist_timeout_s)
        try:
            self.args = dataclasses.replace(args, amp=runtime.choose_amp(self.device, args.amp))  # "auto" resolved
            self._build(cfg, self.args, hooks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Leave the process group this trainer joined (nothing without torchrun); ``fit`` ends with it."""
        if self.owns_group:
            dist.cleanup()

    def _build(self, cfg: Config, args: TrainArgs, hooks: Sequence[Hook | Callable[..., None]]) -> None:
        self.rank, self.world, _ = dist.world()
        self.main, self.work = dist.is_main(), Path(args.work_dir)
        resume = elastic.resume_request(args.resume, self.main)  # a restarted torchrun group resumes by itself
        if self.main:
            claim(self.work, RUN_FILES, resume=bool(resume), overwrite=args.overwrite, flag="--work-dir")
        seed_everything(cfg.train.seed + self.rank)
        self.dataset = load_dataset(args.ann, args.data_root, self.main, cfg.data.keep_empty_images)
        self.cfg = cfg = with_classes(cfg, self.dataset)
        t = cfg.train
        if (t.eval_every_epochs or t.eval_every_iters) and not args.val_ann:
            raise GnrcnnError("evaluations during training (--eval-every, --early-stop) need --val-ann")
        self.val = GroundTruth(args.val_ann, args.val_data_root or args.data_root) if args.val_ann else None
        found = ckpt.load_for_resume(self.work, resume if isinstance(resume, str) else None) if resume else None
        self.model = make_model(cfg, args, found is not None, self.device, self.main)
        self.optimizer = make_optimizer(self.model, cfg)
        self.ema = EMA(self.model, t.ema_decay) if t.ema_decay > 0 else None
        self.loader, self.sampler = make_loader(self.dataset, cfg, self.rank, self.world, self.device)
        self.ipe = len(self.sampler) // t.accumulate
        if self.ipe == 0:
            raise GnrcnnError(f"{args.ann}: {len(self.dataset)} images make no full iteration of "
                              f"{t.images_per_gpu} x {self.world} x {t.accumulate} images")  # fmt: skip
        self.total_batch = t.images_per_gpu * self.world * t.accumulate
        self.schedule = make_schedule(t, self.ipe, self.total_batch, args.max_iters)
        self.end = min(self.schedule.total_iters, args.stop_at or self.schedule.total_iters)
        self.scaler, self.normalizer = make_scaler(args.amp), Normalizer(cfg.input, self.device)
        self.events = EventStore(self.work, make_writers(self.work, cfg, self.schedule.total_iters, self.main))
        self.hooks = Hooks([*default_hooks(self), *hooks])
        self.last_checkpoint: Path | None = None  # before resuming, which sets it
        self.last_metrics: dict[str, Any] | None = None  # of the latest evaluation in this process
        self.final_metrics: dict[str, Any] = {}  # the final evaluation's (a finished run)
        self.last_losses, self.data_time, self.stop_reason, self.stop_error = {}, 0.0, "", None
        self.iteration = restore(self, found) if resume else 0
        self.net = DistributedDataParallel(self.model) if self.world > 1 else self.model
        self.optimizer_step = OptimizerStep(self.net, self.optimizer, self.device, amp=args.amp, scaler=self.scaler,
                                            clip_norm=t.clip_grad_norm)  # fmt: skip

    def _inputs(self, batch: Batch) -> Inputs:
        images = self.normalizer.normalize(batch.images, batch.image_sizes)
        return images, batch.image_sizes.to(self.device), batch.targets.to(self.device, True)

    def _check(self, batch: Batch, losses: dict[str, torch.Tensor]) -> None:
        check_finite(losses, [m.image_id for m in batch.metas], self.iteration + 1, self.last_checkpoint, self.device)

    def step(self, batches: list[Batch]) -> dict[str, float]:
        """One optimizer step over ``accumulate`` batches; returns the mean of each loss (and the lr)."""
        lr = self.schedule.lr(self.iteration)
        sums = self.optimizer_step(batches, lr, self._inputs, self._check)
        self.iteration += 1
        sums["lr"] = lr
        return sums

    def request_stop(self, reason: str, error: Callable[[], Exception] | None = None) -> None:
        """End the run after this step's hooks ("early_stop", "interrupted"); ``error`` is raised at the end."""
        self.stop_reason, self.stop_error = reason, error

    @property
    def eval_model(self) -> torch.nn.Module:
        """What is evaluated and saved as the result: the EMA of the weights when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def detector(self) -> Detector:
        """A ``Detector`` lent ``eval_model``: it leaves the model (weights, dtype, mode) exactly as it was."""
        return Detector(self.cfg, self.eval_model, device=self.device, amp=self.args.amp)

    def evaluate(self, tag: str) -> dict[str, Any]:
        """COCO metrics of ``eval_model`` on the validation set (``eval/<tag>/``); {} without one."""
        if self.val is None:
            return {}
        from ..evaluation.evaluate import evaluate

        return evaluate(self.detector(), self.val, out_dir=self.work / "eval" / tag)

    def fit(self) -> TrainResult:
        """Train to the end of the schedule, to ``stop_at``, until validation stops improving or a signal."""
        outcome, ended = "failed", False
        try:
            self.events.open(self.iteration)
            self.hooks.call("before_train", self)
            outcome = self._loop()
            ended = True
            self.hooks.call_all("after_train", self, outcome)
        except BaseException as e:
            outcome = "failed"
            if not ended:  # the hooks still end (signal handlers restored); the run's own error is the one raised
                with contextlib.suppress(Exception):
                    self.hooks.call_all("after_train", self, outcome)
            # a hung or lost rank: one clear line (other errors pass unchanged)
            raise elastic.explained(e, self.cfg.train.dist_timeout_s) if isinstance(e, RuntimeError) else e  # noqa: B904
        finally:
            self._close_writers(outcome)
        if self.stop_error is not None:
            raise self.stop_error()
        done, best = outcome == "finished", self.work / BEST
        return TrainResult(outcome=outcome, iteration=self.iteration, metrics=self.final_metrics if done else {},
                           final=self.work / "model_final.pth" if done else None, best=best if best.exists() else None,
                           stopped_early=self.stop_reason == "early_stop", work_dir=self.work, config=self.cfg,
                           iters_per_epoch=self.ipe, main=self.main)  # fmt: skip

    def train(self) -> dict[str, Any]:
        """``fit``, returning only the final metrics (empty unless the run finished)."""
        return self.fit().metrics

    def _loop(self) -> str:
        batches = batch_groups(self.loader, self.sampler, self.ipe, self.cfg.train.accumulate, self.iteration)
        while self.iteration < self.end and not self.stop_reason:
            t_data = time.perf_counter()
            group = next(batches)
            self.data_time = time.perf_counter() - t_data
            self.hooks.call("before_step", self)
            self.last_losses = self.step(group)
            self.events.iteration = self.iteration
            self.hooks.call("after_step", self, group)
        if self.stop_reason == "interrupted":
            return "interrupted"
        done = self.stop_reason == "early_stop" or self.iteration >= self.schedule.total_iters
        return "finished" if done else "paused"

    def _close_writers(self, outcome: str) -> None:
        try:
            with contextlib.suppress(Exception) if outcome == "failed" else contextlib.nullcontext():
                self.events.close(outcome)
        finally:
            self.close()
