"""Logging and progress as a hook: the run's config and data record before the first step, each step's
losses and lr (group ``iter``), and every ``train.log_every`` iterations their means over those
iterations and the ranks with the time per iteration, data time, ETA and peak memory (group ``train``)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from ... import distributed as dist
from ... import runtime
from ...config.loader import dump_yaml
from ...data.problems import Problem, count_text, images_left_out
from ...data.train_data import new_skipped
from ...fileio import write_text_atomic
from .. import data_summary
from ..setup import describe
from .base import Hook, Trainer

if TYPE_CHECKING:
    from ...data.train_data import Batch


class LogHook(Hook):
    order = 20
    name = "log"

    def __init__(self) -> None:
        self.window: list[dict[str, float]] = []
        self.skipped_seen: set[str] = set()
        self.skipped: list[Problem] = []  # images that failed to decode during the run
        self.t_last = time.perf_counter()
        self.data_time = 0.0

    def before_train(self, trainer: Trainer) -> None:
        self.t_last = time.perf_counter()
        if not trainer.main:
            return
        write_text_atomic(dump_yaml(trainer.cfg), trainer.work / "config.yaml", "config")
        run = describe(trainer.cfg, trainer.dataset, trainer.schedule, trainer.world, trainer.device)
        record = data_summary.summary(trainer.dataset, trainer.val and trainer.val.dataset)
        for line in (run, data_summary.describe(record), *trainer.schedule.notes):
            trainer.events.message(line)
        trainer.events.put_record("data", record, iteration=trainer.iteration)

    def after_step(self, trainer: Trainer, batches: list[Batch]) -> None:
        for b in batches:
            for problem in new_skipped(b.skipped, self.skipped_seen):
                self.skipped.append(problem)
                self._say(trainer, str(problem))
        self.window.append(trainer.last_losses)
        self.data_time += trainer.data_time
        trainer.events.put_scalars(trainer.last_losses, "iter")
        it = trainer.iteration
        if it % max(1, trainer.cfg.train.log_every) == 0 or it == trainer.end:
            self._log(trainer)

    def after_train(self, trainer: Trainer, outcome: str) -> None:
        if self.skipped:  # counted as the data: line counts, for the images only a full decode finds
            self._say(trainer, f"data: left out during training: {count_text(images_left_out(self.skipped))} "
                      "images (`gnrcnn check-data` finds them before training)")  # fmt: skip

    @staticmethod
    def _say(trainer: Trainer, line: str) -> None:
        if trainer.main:
            trainer.events.message(line)
        else:
            print(line, file=sys.stderr)  # another rank's loader found it

    def _log(self, trainer: Trainer) -> None:
        now, n = time.perf_counter(), len(self.window)
        keys = [k for k in self.window[0] if k != "lr"]
        means = dist.mean_across_ranks({k: sum(w[k] for w in self.window) / n for k in keys}, trainer.device)
        s_iter = (now - self.t_last) / n
        eta = s_iter * (trainer.schedule.total_iters - trainer.iteration)
        values = {"epoch": round(trainer.iteration / trainer.ipe, 3), **means, "lr": self.window[-1]["lr"],
                  "time": round(s_iter, 4), "data_time": round(self.data_time / n, 4), "eta_s": round(eta),
                  "mem_mb": round(runtime.peak_memory_gb(trainer.device) * 1024)}  # fmt: skip
        trainer.events.put_scalars(values, "train")
        self.window, self.t_last, self.data_time = [], now, 0.0
