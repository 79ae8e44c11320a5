"""``gnrcnn study active-learning``: does ``gnrcnn rank``'s ordering pick better images to label than chance?

On the demo's shapes data and recipe (``tools/demo.py``): a pool of generated images stands for the
unlabelled data, its annotations for the labeller. Each seed starts from the same ``start`` images drawn
at random and trains the demo detector from scratch; then, for each signal, ``rounds`` times: the model
of the round ranks the images not yet labelled (``labels/rank.py``), the top ``k`` are added, and the
detector is trained again from scratch on the larger set with the same number of iterations. Every model
is evaluated on the same validation set. ``random`` is the baseline (``k`` drawn at random).

One work dir per run under ``out/runs/s<seed>/<signal>/<labelled>``; a finished run (its
``study_run.json``) is skipped, so a stopped study continues. ``active_learning_report.py`` writes the
table and the plot.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config.loader import load_config
from ..data.importers.split import subset
from ..data.shapes import make_shapes
from ..fileio import write_json_atomic
from ..labels.rank import random_values, ranking, signals
from ..predict.detector import Detector
from ..tools.demo import CONFIG, train_args
from ..train.trainer import Trainer
from .active_learning_plan import QUICK, Plan
from .folder import open_study

__all__ = ["QUICK", "Plan", "run", "train_round"]


def _config(plan: Plan, seed: int) -> Any:
    steps = sorted({max(1, round(f * plan.iterations)) for f in (0.8, 0.95)})
    return load_config(CONFIG, [
        f"input.short={plan.size}", f"input.long={plan.size}", f"train.iters={plan.iterations}",
        f"train.lr_step_iters={steps}", f"train.warmup_iters={max(1, plan.iterations // 10)}",
        f"train.seed={seed}", f"train.log_every={max(1, plan.iterations // 5)}", "train.num_workers=0",
        "train.keep_checkpoints=1", "train.eval_every_epochs=0", *plan.overrides,
    ])  # fmt: skip


def _prepare(plan: Plan, out: Path) -> tuple[Path, dict[str, Path], dict[str, Any]]:
    data = out / "data"
    spec = {"pool": plan.pool, "val": plan.val_images, "size": plan.size}
    marker = data / "study_data.json"
    paths = {"train": data / "annotations" / "train.json", "val": data / "annotations" / "val.json"}
    if not (marker.exists() and json.loads(marker.read_text()) == spec and all(p.exists() for p in paths.values())):
        paths = make_shapes(data, plan.pool, plan.val_images, plan.size, seed=0)
        write_json_atomic(spec, marker, "study data description")
    return data, paths, json.loads(paths["train"].read_text())


def _picks(
    plan: Plan,
    detector: Detector,
    data: Path,
    pool: dict[str, Any],
    labelled: list[int],
    chosen: tuple[str, ...],
    seed: int,
    round_: int,
) -> dict[str, list[int]]:
    """The ``k`` image ids each signal adds next: the top of its ranking of the images not yet labelled (the
    model's signals from one prediction pass)."""
    rest = [im for im in pool["images"] if im["id"] not in set(labelled)]
    paths = [data / im["file_name"] for im in rest]
    ids = {str(p): im["id"] for p, im in zip(paths, rest)}
    found = signals(detector, paths) if detector is not None and set(chosen) - {"random"} else {}
    picks = {}
    for signal in chosen:
        values = random_values(len(paths), seed * 1000 + round_) if signal == "random" else found[signal]
        picks[signal] = [ids[r.image] for r in ranking(paths, values)[: plan.k]]
    return picks


def train_round(plan: Plan, out: Path, seed: int, name: str, labelled: list[int], round_: int,
                signals: tuple[str, ...], device: str) -> dict[str, Any]:  # fmt: skip
    """One training on the ``labelled`` image ids, then (before the last round) the images each of
    ``signals`` adds next: its record, kept in ``study_run.json`` (a finished run is not trained again)."""
    work = out / "runs" / f"s{seed}" / name
    done = work / "study_run.json"
    if done.exists():
        return json.loads(done.read_text())
    data, paths, pool = _prepare(plan, out)
    ann = work / "labelled.json"
    write_json_atomic(subset(pool, set(labelled)), ann, "labelled subset")
    start = time.perf_counter()
    trainer = Trainer(_config(plan, seed), train_args(data, {"train": ann, "val": paths["val"]}, work, device))
    metrics = trainer.train()
    record: dict[str, Any] = {"seed": seed, "run": name, "labelled": len(labelled), "image_ids": sorted(labelled),
                              "box_AP": metrics["bbox"]["AP"], "mask_AP": metrics["segm"]["AP"]}  # fmt: skip
    if round_ < plan.rounds:
        detector = Detector(trainer.cfg, trainer.model, device=device)
        record["picks"] = _picks(plan, detector, data, pool, labelled, signals, seed, round_)
    record["wall_s"] = round(time.perf_counter() - start, 1)
    write_json_atomic(record, done, "study run", indent=2)
    return record


def run(plan: Plan, out: str | Path, device: str = "cpu") -> list[dict[str, Any]]:
    """Every seed's start and every signal's rounds, then the table and the plot; returns the run records."""
    from .active_learning_report import write_report

    plan.check()
    out = open_study(plan, out)
    records, starts = [], {}
    for seed in plan.seeds:  # every seed's start first, then one signal after another: a study cut short
        _, _, pool = _prepare(plan, out)  # for time still has whole curves, of the signals listed first
        ids = [im["id"] for im in pool["images"]]
        start = sorted(np.random.default_rng(seed).choice(ids, plan.start, replace=False).tolist())
        print(f"study: seed {seed}, start: {plan.start} images labelled", flush=True)
        starts[seed] = (start, train_round(plan, out, seed, f"start_{plan.start}", start, 0, plan.signals, device))
        records.append(starts[seed][1])
    for signal in plan.signals:
        for seed in plan.seeds:
            labelled, record = starts[seed]
            for r in range(1, plan.rounds + 1):
                labelled = sorted(labelled + record["picks"][signal])
                print(f"study: seed {seed}, {signal}, round {r}/{plan.rounds}: {len(labelled)} images labelled",
                      flush=True)  # fmt: skip
                record = train_round(plan, out, seed, f"{signal}_{len(labelled)}", labelled, r, (signal,), device)
                records.append(dict(record, signal=signal))
            write_report(records, plan, out)
    return records
