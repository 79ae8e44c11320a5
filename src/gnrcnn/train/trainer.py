"""``gnrcnn train``: the seed recipe on any COCO-format dataset, on a CPU, a GPU or many (torchrun).

One iteration is one optimizer step over ``accumulate`` batches (gradients clipped by norm if asked, an
EMA of the weights updated after it if asked). Checkpoints are written atomically each epoch (and every
``checkpoint_every_iters``); ``--resume`` continues exactly where the last good one left off: weights,
EMA, optimizer, scaler, random generators, iteration, data order and the best-so-far of validation.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from .. import distributed as dist
from .. import runtime
from ..build import build_for_training
from ..config.loader import dump_yaml
from ..config.schema import Config
from ..data.preprocess import Normalizer
from ..data.train_data import Batch, warn_skipped
from ..distributed import elastic
from ..errors import GnrcnnError
from ..evaluation.ground_truth import GroundTruth
from ..fileio import write_json_atomic, write_text_atomic
from ..predict.detector import Detector
from ..weights import gnrcnn_checkpoint
from . import checkpoint as ckpt
from . import data_summary, final_weights
from .best import BestTracker, is_due, record, update_on_every_rank, write_best
from .ema import EMA
from .interrupt import StopSignals
from .logger import MetricsLogger, plot_losses
from .loss_guard import check_finite
from .memory_plan import plan as plan_memory
from .schedule import Schedule, make_schedule
from .setup import describe, load_dataset, make_loader, make_optimizer, seed_everything, with_classes
from .step import Inputs, OptimizerStep, make_scaler


@dataclass(kw_only=True)
class TrainArgs:
    data_root: str
    ann: str
    work_dir: str
    val_data_root: str | None = None
    val_ann: str | None = None
    weights: str | None = None
    backbone_weights: str | None = None
    resume: bool | str = False  # True: the latest good checkpoint in work_dir; a str: that file
    max_iters: int | None = None
    stop_at: int | None = None  # leave (with a checkpoint) at this iteration; --resume continues the schedule
    device: str = "cpu"
    amp: str | None = None


# Called after every optimizer step with the trainer and the batches of that step (a progress
# display, a data trace, an extra log). Hooks observe; they do not change the run.
Hook = Callable[["Trainer", list[Batch]], None]


class Trainer:
    """``cfg`` is not changed: the trainer keeps its own copy, with the dataset's classes."""

    def __init__(self, cfg: Config, args: TrainArgs, hooks: Sequence[Hook] = ()) -> None:
        self.hooks = list(hooks)
        # Under torchrun the trainer joins the process group here and leaves it when ``train`` ends (or
        # ``close``); callers set up and tear down nothing.
        self.owns_group = not dist.initialized()
        self.device = dist.setup(args.device, cfg.train.dist_timeout_s)
        try:
            self.args = dataclasses.replace(args, amp=runtime.choose_amp(self.device, args.amp))  # "auto" resolved
            self._build(cfg, self.args)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Leave the process group this trainer joined (nothing without torchrun); ``train`` ends with it."""
        if self.owns_group:
            dist.cleanup()

    def _build(self, cfg: Config, args: TrainArgs) -> None:
        """The run's parts: data, model and its starting weights, memory plan, optimizer, EMA, loader,
        schedule, scaler, resumed state, DDP wrapper and the optimizer step."""
        self.rank, self.world, _ = dist.world()
        self.main = dist.is_main()
        self.work = Path(args.work_dir)
        if self.main:
            self.work.mkdir(parents=True, exist_ok=True)
        seed_everything(cfg.train.seed + self.rank)
        self.dataset = load_dataset(args.ann, args.data_root, self.main, cfg.data.keep_empty_images)
        self.cfg = cfg = with_classes(cfg, self.dataset)
        t = cfg.train
        if (t.eval_every_epochs or t.eval_every_iters) and not args.val_ann:
            raise GnrcnnError("evaluations during training (--eval-every, --early-stop) need --val-ann")
        self.val = GroundTruth(args.val_ann, args.val_data_root or args.data_root) if args.val_ann else None
        # A run that resumes takes its weights from its checkpoint: nothing else is loaded (or downloaded).
        resume = elastic.resume_request(args.resume, self.main)  # a restarted torchrun group resumes by itself
        found = ckpt.load_for_resume(self.work, resume if isinstance(resume, str) else None) if resume else None
        start = ("none", "none") if found else (args.weights, args.backbone_weights)
        model = build_for_training(cfg, *start, self.main and not found)
        self.model = model.to(self.device).train()
        memory = plan_memory(self.model, cfg, self.device, args.amp)
        self.model.configure_training(cfg.train.channels_last, memory.recompute)
        if self.main:
            print(f"backbone recomputation {'on' if memory.recompute else 'off'}: {memory.reason}")
        self.optimizer = make_optimizer(self.model, cfg)
        self.ema = EMA(self.model, t.ema_decay) if t.ema_decay > 0 else None
        self.tracker = BestTracker(t.best_metric, t.early_stop)
        self.loader, self.sampler = make_loader(self.dataset, cfg, self.rank, self.world, self.device)
        self.ipe = len(self.sampler) // t.accumulate
        if self.ipe == 0:
            raise GnrcnnError(f"{args.ann}: {len(self.dataset)} images make no full iteration of "
                              f"{t.images_per_gpu} x {self.world} x {t.accumulate} images")  # fmt: skip
        self.total_batch = t.images_per_gpu * self.world * t.accumulate
        self.schedule: Schedule = make_schedule(t, self.ipe, self.total_batch, args.max_iters)
        self.scaler = make_scaler(args.amp)
        self.normalizer = Normalizer(cfg.input, self.device)
        self.skipped_seen: set[str] = set()
        self.last_checkpoint: Path | None = None  # before resuming, which sets it
        self.last_metrics: dict[str, Any] | None = None  # of the latest evaluation in this process
        self.iteration = self._resume(found) if resume else 0
        self.net = DistributedDataParallel(self.model) if self.world > 1 else self.model
        self.optimizer_step = OptimizerStep(self.net, self.optimizer, self.device, amp=args.amp, scaler=self.scaler,
                                            clip_norm=t.clip_grad_norm, ema=self.ema)  # fmt: skip

    def _state(self) -> dict[str, Any]:
        meta = {"iteration": self.iteration, "images_seen": self.iteration * self.total_batch}
        state = gnrcnn_checkpoint(self.model, self.cfg.to_dict(), meta)
        state.update(optimizer=self.optimizer.state_dict(), iteration=self.iteration,
                     scaler=self.scaler.state_dict() if self.scaler else None)  # fmt: skip
        state["rng"] = dist.gather_objects(ckpt.rng_state())  # every rank's generators
        state["ema"] = self.ema.state_dict() if self.ema else None
        state["validation"] = self.tracker.state_dict()
        return state

    def save_checkpoint(self) -> None:
        state = self._state()  # collective: every rank takes part
        if self.main:
            self.last_checkpoint = ckpt.save(self.work, self.iteration, state, self.cfg.train.keep_checkpoints)
        dist.barrier()

    def _resume(self, found: tuple[Path, dict[str, Any]] | None) -> int:
        if found is None:
            if self.main:
                print(f"no checkpoint in {self.work} to resume from: starting at iteration 0")
            return 0
        path, state = found
        it = ckpt.restore(state, model=self.model, optimizer=self.optimizer, scaler=self.scaler, ema=self.ema,
                          tracker=self.tracker, rank=self.rank)  # fmt: skip
        self.last_checkpoint = path
        if self.main:
            print(f"resumed from {path} at iteration {it}")
        return it

    def _inputs(self, batch: Batch) -> Inputs:
        images = self.normalizer.normalize(batch.images, batch.image_sizes)
        return images, batch.image_sizes.to(self.device), batch.targets.to(self.device, True)

    def _check(self, batch: Batch, losses: dict[str, torch.Tensor]) -> None:
        check_finite(losses, [m.image_id for m in batch.metas], self.iteration + 1, self.last_checkpoint, self.device)

    def step(self, batches: list[Batch]) -> dict[str, float]:
        """One optimizer step over ``accumulate`` batches; returns the mean of each loss."""
        lr = self.schedule.lr(self.iteration)
        sums = self.optimizer_step(batches, lr, self._inputs, self._check)
        self.iteration += 1
        sums["lr"] = lr
        return sums

    def _batches(self) -> Iterator[list[Batch]]:
        """Lists of ``accumulate`` batches, epoch after epoch, from the current iteration on."""
        acc = self.cfg.train.accumulate
        while True:
            epoch, done = divmod(self.iteration, self.ipe)
            self.sampler.set_epoch(epoch, done * acc)
            group: list[Batch] = []
            for batch in self.loader:
                group.append(batch)
                if len(group) == acc:
                    yield group
                    group = []
                    if self.iteration % self.ipe == 0:  # epoch boundary: restart the sampler
                        break

    def train(self) -> dict[str, Any]:
        """Train to the end of the schedule, to ``stop_at``, or until validation stops improving."""
        total, log_every = self.schedule.total_iters, max(1, self.cfg.train.log_every)
        logger = MetricsLogger(self.work, total, self.iteration, self.main)
        if self.main:
            write_text_atomic(dump_yaml(self.cfg), self.work / "config.yaml", "config")
            data_summary.announce(logger, describe(self.cfg, self.dataset, self.schedule, self.world, self.device),
                                  self.dataset, self.val and self.val.dataset, self.iteration)  # fmt: skip
        window: list[dict[str, float]] = []
        t_last, data_time, t_data = time.perf_counter(), 0.0, time.perf_counter()
        end = min(total, self.args.stop_at or total)
        stop = StopSignals().install()  # SIGTERM / Ctrl-C are recorded, acted on after the step in flight
        try:
            for batches in self._batches() if not self.tracker.should_stop else ():
                if self.iteration >= end:
                    break
                data_time += time.perf_counter() - t_data
                for b in batches:
                    warn_skipped(b.skipped, self.skipped_seen)
                window.append(self.step(batches))
                for hook in self.hooks:
                    hook(self, batches)
                logger.advance()
                if self.iteration % log_every == 0 or self.iteration == end:
                    now = time.perf_counter()
                    self._log(logger, window, (now - t_last) / len(window), data_time / len(window))
                    window, t_last, data_time = [], now, 0.0
                if self._evaluate_and_checkpoint(end, logger):
                    break
                if stop.requested(self.device):
                    self.save_checkpoint()
                    raise stop.error(self.iteration, total, self.last_checkpoint)
                t_data = time.perf_counter()
            stopped = self.tracker.should_stop
            return self._finish(logger, stopped) if self.iteration >= total or stopped else {}
        except RuntimeError as e:  # a hung or lost rank: one clear line (other errors pass unchanged)
            raise elastic.explained(e, self.cfg.train.dist_timeout_s)  # noqa: B904
        finally:
            stop.restore()
            logger.close()
            self.close()

    def _log(self, logger: MetricsLogger, window: list[dict[str, float]], s_iter: float, data_s: float) -> None:
        keys = [k for k in window[0] if k != "lr"]
        means = dist.mean_across_ranks({k: sum(w[k] for w in window) / len(window) for k in keys}, self.device)
        eta = s_iter * (self.schedule.total_iters - self.iteration)
        record = {"iter": self.iteration, "epoch": round(self.iteration / self.ipe, 3), **means,
                  "lr": window[-1]["lr"], "time": round(s_iter, 4), "data_time": round(data_s, 4),
                  "eta_s": round(eta), "mem_mb": round(runtime.peak_memory_gb(self.device) * 1024)}  # fmt: skip
        logger.log(record)

    def _evaluate_and_checkpoint(self, end: int, logger: MetricsLogger) -> bool:
        """A due evaluation first (so the checkpoint holds its verdict), then a due checkpoint; True to stop."""
        t, it = self.cfg.train, self.iteration
        if is_due(self.cfg, it, self.ipe, self.schedule.total_iters):
            tag = f"epoch_{it // self.ipe}" if t.eval_every_epochs else f"iter_{it}"
            self._validate(self.evaluate(tag), logger)
        stop = self.tracker.should_stop
        if it % self.ipe == 0 or it == end or stop or (t.checkpoint_every_iters and it % t.checkpoint_every_iters == 0):
            self.save_checkpoint()
        if stop:
            logger.write(f"early stop at iteration {it}: {self.tracker.metric} has not improved in {t.early_stop} "
                         f"evaluations; the best, {self.tracker.best:.4f} at iteration {self.tracker.best_iter}, "
                         f"is {self.work / 'best.pth'}")  # fmt: skip
        return stop

    def _validate(self, metrics: dict[str, Any], logger: MetricsLogger) -> None:
        """Log an evaluation, keep ``best.pth`` when it improves (all ranks take rank 0's verdict)."""
        it, tr = self.iteration, self.tracker
        self.last_metrics = metrics
        if update_on_every_rank(tr, metrics, it) and self.main:
            write_best(self.work, self.eval_model, self.cfg, tr, metrics)
        if self.main:
            logger.log_eval(record(metrics, tr, it, it / self.ipe))
            logger.write(f"iteration {it}: box AP {metrics['bbox']['AP']:.3f}, mask AP {metrics['segm']['AP']:.3f}; "
                         f"best {tr.metric} {tr.best:.3f} at iteration {tr.best_iter}")  # fmt: skip

    @property
    def eval_model(self) -> torch.nn.Module:
        """What is evaluated and saved as the result: the EMA of the weights when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def evaluate(self, tag: str) -> dict[str, Any]:
        """COCO metrics of the current weights (their EMA if on) on the validation set; the model is lent to
        the detector, which leaves it (weights, dtype, mode) exactly as it was."""
        if self.val is None:
            return {}
        from ..evaluation.evaluate import evaluate

        detector = Detector(self.cfg, self.eval_model, device=self.device, amp=self.args.amp)
        return evaluate(detector, self.val, out_dir=self.work / "eval" / tag)

    def _finish(self, logger: MetricsLogger, stopped_early: bool) -> dict[str, Any]:
        """``model_final.pth`` and the final metrics (an early stop's are those of its last evaluation)."""
        if stopped_early:  # its last evaluation was of these weights (unless this process only resumed it)
            metrics = self.last_metrics if self.last_metrics is not None else self.evaluate("final")
        else:
            metrics = self.evaluate("final")
            if self.args.val_ann and (self.cfg.train.eval_every_epochs or self.cfg.train.eval_every_iters):
                self._validate(metrics, logger)
        if self.main:
            meta = {"iteration": self.iteration, "ema": self.ema is not None, "stopped_early": stopped_early}
            final_weights.save(gnrcnn_checkpoint(self.eval_model, self.cfg.to_dict(), meta), self.work)
            plot_losses(self.work / "metrics.jsonl", self.work / "loss_curve.png")
            if metrics:
                write_json_atomic(metrics, self.work / "metrics.json", "metrics", indent=2)
        dist.barrier()
        return metrics
