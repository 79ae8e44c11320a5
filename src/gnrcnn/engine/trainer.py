"""``gnrcnn train``: the seed recipe on any COCO-format dataset, on a CPU, a GPU or many (torchrun).

One iteration is one optimizer step over ``accumulate`` batches. Checkpoints are written atomically
each epoch (and every ``checkpoint_every_iters``); ``--resume`` continues exactly where the last
good one left off: weights, optimizer, scaler, random generators, iteration and data order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from .. import runtime
from ..config.loader import dump_yaml
from ..config.schema import Config
from ..data.preprocess import Normalizer
from ..data.train_data import Batch, warn_skipped
from ..errors import GnrcnnError
from ..fileio import save_torch_atomic, write_json_atomic, write_text_atomic
from ..weights import gnrcnn_checkpoint
from . import checkpoint as ckpt
from . import distributed as dist
from .logger import MetricsLogger, plot_losses
from .memory_plan import plan as plan_memory
from .predictor import Detector
from .schedule import Schedule, make_schedule
from .train_setup import (
    build_for_training,
    load_dataset,
    make_loader,
    make_optimizer,
    seed_everything,
    with_classes,  # fmt: skip
)


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
        self.args, self.hooks = args, list(hooks)
        self.device = dist.setup(args.device)
        self.rank, self.world, _ = dist.world()
        self.main = dist.is_main()
        self.work = Path(args.work_dir)
        if self.main:
            self.work.mkdir(parents=True, exist_ok=True)
        seed_everything(cfg.train.seed + self.rank)
        self.dataset = load_dataset(args.ann, args.data_root, self.main)
        self.cfg = cfg = with_classes(cfg, self.dataset)
        # A run that resumes takes its weights from its checkpoint: nothing else is loaded (or downloaded).
        explicit = args.resume if isinstance(args.resume, str) else None
        found = ckpt.load_for_resume(self.work, explicit) if args.resume else None
        start = ("none", "none") if found else (args.weights, args.backbone_weights)
        model = build_for_training(cfg, *start, self.main and not found)
        self.model = model.to(self.device).train()
        memory = plan_memory(self.model, cfg, self.device, args.amp)
        self.model.configure_training(cfg.train.channels_last, memory.recompute)
        if self.main:
            print(f"backbone recomputation {'on' if memory.recompute else 'off'}: {memory.reason}")
        self.optimizer = make_optimizer(self.model, cfg)
        self.loader, self.sampler = make_loader(self.dataset, cfg, self.rank, self.world, self.device)
        t = cfg.train
        self.ipe = len(self.sampler) // t.accumulate
        if self.ipe == 0:
            raise GnrcnnError(f"{args.ann}: {len(self.dataset)} images make no full iteration of "
                              f"{t.images_per_gpu} x {self.world} x {t.accumulate} images")  # fmt: skip
        self.total_batch = t.images_per_gpu * self.world * t.accumulate
        self.schedule: Schedule = make_schedule(t, self.ipe, self.total_batch, args.max_iters)
        self.scaler = torch.amp.GradScaler("cuda") if args.amp == "fp16" else None
        self.normalizer = Normalizer(cfg.input, self.device)
        self.iteration = self._resume(found) if args.resume else 0
        self.net = DistributedDataParallel(self.model) if self.world > 1 else self.model
        self.skipped_seen: set[str] = set()
        self.last_checkpoint: Path | None = None

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        meta = {"iteration": self.iteration, "images_seen": self.iteration * self.total_batch}
        state = gnrcnn_checkpoint(self.model, self.cfg.to_dict(), meta)
        state.update(optimizer=self.optimizer.state_dict(), iteration=self.iteration,
                     scaler=self.scaler.state_dict() if self.scaler else None)  # fmt: skip
        state["rng"] = dist.gather_objects(ckpt.rng_state())  # every rank's generators
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
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        rngs = state["rng"]
        ckpt.set_rng_state(rngs[self.rank] if self.rank < len(rngs) else rngs[0])
        self.last_checkpoint = path
        if self.main:
            print(f"resumed from {path} at iteration {state['iteration']}")
        return int(state["iteration"])

    # ------------------------------------------------------------------ one iteration
    def _forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        images = self.normalizer.normalize(batch.images, batch.image_sizes)
        with runtime.autocast(self.device, self.args.amp):
            return self.net(images, batch.image_sizes.to(self.device), batch.targets.to(self.device, True))

    def _guard(self, losses: dict[str, torch.Tensor], batch: Batch) -> None:
        finite = bool(torch.isfinite(torch.stack([v.detach().float() for v in losses.values()])).all())
        if dist.all_true(finite, self.device):
            return
        bad = {k: float(v) for k, v in losses.items() if not torch.isfinite(v)}
        info = dist.gather_objects((bad, [m.image_id for m in batch.metas]))
        names = "; ".join(f"{k} = {v}" for b, _ in info for k, v in b.items())  # type: ignore[union-attr]
        ids = [i for b, im in info for i in im if b]  # type: ignore[union-attr]
        keep = f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint yet"
        raise GnrcnnError(f"non-finite loss at iteration {self.iteration + 1}: {names} (image ids {ids}); "
                          f"training stopped, {keep}")  # fmt: skip

    def step(self, batches: list[Batch]) -> dict[str, float]:
        """One optimizer step over ``accumulate`` batches; returns the mean of each loss."""
        lr = self.schedule.lr(self.iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        sums: dict[str, float] = {}
        for i, batch in enumerate(batches):
            sync = i == len(batches) - 1 or self.world == 1
            with nullcontext() if sync else self.net.no_sync():
                losses = self._forward(batch)
                self._guard(losses, batch)
                total = sum(losses.values()) / len(batches)
                (self.scaler.scale(total) if self.scaler else total).backward()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) / len(batches)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.iteration += 1
        sums["loss"] = sum(sums.values())
        sums["lr"] = lr
        return sums

    # ------------------------------------------------------------------ the loop
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
        total, log_every = self.schedule.total_iters, max(1, self.cfg.train.log_every)
        logger = MetricsLogger(self.work, total, self.iteration, self.main)
        if self.main:
            write_text_atomic(dump_yaml(self.cfg), self.work / "config.yaml", "config")
            logger.write(self._banner())
        window: list[dict[str, float]] = []
        t_last, data_time, t_data = time.perf_counter(), 0.0, time.perf_counter()
        end = min(total, self.args.stop_at or total)
        try:
            for batches in self._batches():
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
                self._maybe_checkpoint_and_eval(end, logger)
                t_data = time.perf_counter()
        finally:
            logger.close()
        return self._finish() if self.iteration >= total else {}

    def _log(self, logger: MetricsLogger, window: list[dict[str, float]], s_iter: float, data_s: float) -> None:
        keys = [k for k in window[0] if k != "lr"]
        means = dist.mean_across_ranks({k: sum(w[k] for w in window) / len(window) for k in keys}, self.device)
        eta = s_iter * (self.schedule.total_iters - self.iteration)
        record = {"iter": self.iteration, "epoch": round(self.iteration / self.ipe, 3), **means,
                  "lr": window[-1]["lr"], "time": round(s_iter, 4), "data_time": round(data_s, 4),
                  "eta_s": round(eta), "mem_mb": round(runtime.peak_memory_gb(self.device) * 1024)}  # fmt: skip
        logger.log(record)

    def _maybe_checkpoint_and_eval(self, end: int, logger: MetricsLogger) -> None:
        t, it = self.cfg.train, self.iteration
        epoch_end = it % self.ipe == 0
        if epoch_end or it == end or (t.checkpoint_every_iters and it % t.checkpoint_every_iters == 0):
            self.save_checkpoint()
        epoch = it // self.ipe
        if epoch_end and t.eval_every_epochs and epoch % t.eval_every_epochs == 0 and it < self.schedule.total_iters:
            metrics = self.evaluate(f"epoch_{epoch}")
            if metrics:
                logger.write(f"epoch {epoch}: box AP {metrics['bbox']['AP']:.3f}, mask AP {metrics['segm']['AP']:.3f}")

    def evaluate(self, tag: str) -> dict[str, Any]:
        """COCO metrics of the current weights on the validation set; the training model is lent to the
        detector, which leaves it (weights, dtype, mode) exactly as it was."""
        if not self.args.val_ann:
            return {}
        from .evaluate import evaluate

        detector = Detector(self.cfg, self.model, device=self.device, amp=self.args.amp)
        return evaluate(detector, self.args.val_ann, self.args.val_data_root or self.args.data_root,
                        self.work / "eval" / tag)  # fmt: skip

    def _finish(self) -> dict[str, Any]:
        metrics = self.evaluate("final")
        if self.main:
            final = gnrcnn_checkpoint(self.model, self.cfg.to_dict(), {"iteration": self.iteration})
            save_torch_atomic(final, self.work / "model_final.pth")
            plot_losses(self.work / "metrics.jsonl", self.work / "loss_curve.png")
            if metrics:
                write_json_atomic(metrics, self.work / "metrics.json", "metrics", indent=2)
        dist.barrier()
        return metrics

    def _banner(self) -> str:
        s = self.schedule
        t = self.cfg.train
        return (f"training {self.cfg.name}: {len(self.dataset)} images, {self.cfg.num_classes} classes, "
                f"{self.total_batch} images/iteration ({self.world} process(es) x {t.images_per_gpu} x "
                f"{t.accumulate} accumulated), {s.total_iters} iterations ({s.iters_per_epoch}/epoch), "
                f"lr {s.base_lr:g} (warm-up {s.warmup_iters}, steps at {list(s.steps)}), "
                f"device {self.device}")  # fmt: skip
