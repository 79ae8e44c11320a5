"""``gnrcnn study norm-vs-batch``: the GN paper's claim measured on the demo's detector.

The same Mask R-CNN (the demo recipe: ResNet-18, FPN, 4conv1fc box head, mask head, from scratch)
is trained with each normalisation (GN; BN with per-batch statistics; no norm) at each number of
images per batch, everything else equal:

- the same images seen: a fixed number of training images per run, so iterations = images / batch,
  and the warm-up and lr steps at the same numbers of images seen;
- the lr scaled linearly with the batch (``train.base_lr`` at ``train.base_batch``);
- the same seed, data, input size and sampler;
- evaluated with the model's inference statistics (BN's running averages) on the same validation set.

Each (norm, batch) run trains in its own work dir under ``out/runs``; a finished run (its
``study_run.json``) is skipped, an interrupted one resumes from its last checkpoint, so the study
can be stopped and continued. ``report.py`` writes the table and the plot.

``frozen_bn`` is accepted but means little here: from scratch there are no statistics to freeze,
so FrozenBatchNorm2d (weight 1, bias 0, mean 0, var 1) is the identity and the net is "none"
without conv biases. "none" is the no-norm run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.loader import load_config
from ..config.schema import Config
from ..data.shapes import make_shapes
from ..errors import GnrcnnError
from ..fileio import write_json_atomic
from ..tools.demo import CONFIG, train_args
from ..train.trainer import Trainer
from .folder import open_study
from .plan import QUICK, Plan

__all__ = ["CONFIG", "QUICK", "Plan", "Variant", "prepare_data", "run", "run_config", "run_name", "train_run"]


@dataclass(frozen=True)
class Variant:
    """A run of the recipe under another name: more overrides, a pretrained backbone, tags for its record."""

    name: str
    overrides: tuple[str, ...] = ()
    backbone_weights: str | None = None  # a file for ``--backbone-weights``; None: from scratch
    tags: dict[str, Any] = field(default_factory=dict)


def run_name(norm: str, batch: int) -> str:
    return f"{norm}_b{batch}"


def run_config(plan: Plan, norm: str, batch: int, extra: tuple[str, ...] = ()) -> Config:
    """The demo config with this run's norm (backbone, FPN, heads), batch, schedule and input size; ``extra``
    overrides (another study's variant) come after these and before the plan's own ``--set`` pairs."""
    iters = plan.iters(batch)
    warmup = plan.warmup_images // batch if not plan.iterations else round(iters * plan.warmup_images / plan.images)
    steps = sorted({max(1, round(f * iters)) for f in plan.step_fractions})
    overrides = [
        f"model.backbone.norm={norm}", f"model.fpn.norm={norm}", f"model.roi.norm={norm}",
        f"input.short={plan.size}", f"input.long={plan.size}",
        f"train.images_per_gpu={batch}", "train.accumulate=1", f"train.iters={iters}", f"train.lr_step_iters={steps}",
        f"train.warmup_iters={max(1, warmup)}", f"train.seed={plan.seed}",
        f"train.log_every={max(1, iters // 20)}", "train.keep_checkpoints=1", "train.eval_every_epochs=0",
        # Recomputing BN blocks in the backward pass would update BN's running averages twice per step;
        # it only saves memory, which these small images do not need, so no run uses it.
        "train.recompute_backbone=never",
        *extra,
        *plan.overrides,
    ]  # fmt: skip
    return load_config(CONFIG, overrides)


def prepare_data(plan: Plan, out: Path) -> dict[str, Path]:
    """The study's shapes dataset, generated once (regenerated only if the plan's data differs)."""
    data = out / "data"
    spec = {"train": plan.train_images, "val": plan.val_images, "size": plan.size, "seed": plan.seed}
    marker = data / "study_data.json"
    paths = {"train": data / "annotations" / "train.json", "val": data / "annotations" / "val.json"}
    if marker.exists() and json.loads(marker.read_text()) == spec and all(p.exists() for p in paths.values()):
        return paths
    paths = make_shapes(data, plan.train_images, plan.val_images, plan.size, plan.seed)
    write_json_atomic(spec, marker, "study data description")
    return paths


def train_run(plan: Plan, out: Path, norm: str, batch: int, device: str = "cpu", stop_at: int | None = None,
              variant: Variant | None = None) -> dict[str, Any] | None:  # fmt: skip
    """One run: skipped if finished, resumed if interrupted. Returns its record, None if stopped early.
    ``variant``: another study's run of the same recipe (its name, overrides, backbone weights, record tags)."""
    v = variant or Variant(run_name(norm, batch))
    work = out / "runs" / v.name
    done = work / "study_run.json"
    if done.exists():
        return json.loads(done.read_text())
    paths = prepare_data(plan, out)
    cfg = run_config(plan, norm, batch, v.overrides)
    args = train_args(out / "data", paths, work, device, resume=work.exists(), stop_at=stop_at,
                      backbone_weights=v.backbone_weights)  # fmt: skip
    start = time.perf_counter()
    trainer = Trainer(cfg, args)
    record: dict[str, Any] = {"norm": norm, "batch": batch, "iterations": cfg.train.iters,
                              "images": cfg.train.iters * batch, "lr": trainer.schedule.base_lr, **v.tags}  # fmt: skip
    try:
        metrics = trainer.train()
    except GnrcnnError as e:  # a run that diverges is a result of the study, not the end of it
        print(f"study: {v.name} failed: {e}", flush=True)
        record.update(box_AP=None, mask_AP=None, failed=str(e))
    else:
        if not metrics:
            return None
        record.update(box_AP=metrics["bbox"]["AP"], mask_AP=metrics["segm"]["AP"], metrics=metrics)
    record["wall_s"] = round(time.perf_counter() - start, 1)
    write_json_atomic(record, done, "study run", indent=2)
    return record


def run(plan: Plan, out: str | Path, device: str = "cpu") -> list[dict[str, Any]]:
    """Every (norm, batch) run in turn, then the table and the plot; returns the run records."""
    from .report import write_report

    plan.check()
    out = open_study(plan, out)
    records = []
    todo = [(n, b) for n in plan.norms for b in plan.batches]
    for i, (norm, batch) in enumerate(todo, 1):
        state = "done, skipped" if (out / "runs" / run_name(norm, batch) / "study_run.json").exists() else "training"
        print(f"study run {i}/{len(todo)}: norm {norm}, {batch} image(s) per batch, "
              f"{plan.iters(batch)} iterations ({state})", flush=True)  # fmt: skip
        record = train_run(plan, out, norm, batch, device)
        if record is not None:
            records.append(record)
            write_report(records, plan, out)
    return records
