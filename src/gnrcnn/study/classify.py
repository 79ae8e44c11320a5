"""``gnrcnn study classify`` and ``gnrcnn study group-sweep``: the GN paper's Figure 1 and Table 3 in miniature.

A ``SmallResNet`` is trained on the generated shape crops once per (norm, batch size, seed) of the
plan, under the paper's protocol (``classify_train.py``). Each run's record is written atomically to
``out/runs/<norm>_b<batch>_s<seed>.json`` when it ends, and a run whose record exists is skipped, so
a stopped study continues where it stopped (losing at most the run in progress). After every run
``classify_report.py`` rewrites ``study.md``, ``study.json`` and ``study.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..fileio import write_json_atomic
from .classify_plan import QUICK, QUICK_SWEEP, SWEEP, ClassifyPlan
from .classify_report import write_report
from .classify_train import load_data, train_one
from .folder import open_study

__all__ = ["QUICK", "QUICK_SWEEP", "SWEEP", "ClassifyPlan", "run", "run_name"]


def run_name(norm: str, batch: int, seed: int) -> str:
    return f"{norm}_b{batch}_s{seed}"


def run(plan: ClassifyPlan, out: str | Path, title: str = "classify") -> list[dict[str, Any]]:
    """Every (norm, batch, seed) run in turn (finished ones skipped), the report after each; the records."""
    plan.check()
    out = open_study(plan, out)
    data = load_data(plan, out)
    todo = [(n, b, s) for n in plan.norms for b in plan.batches for s in plan.seeds]
    records: list[dict[str, Any]] = []
    for i, (norm, batch, seed) in enumerate(todo, 1):
        path = out / "runs" / f"{run_name(norm, batch, seed)}.json"
        steps = plan.epochs * (plan.train_images // batch)
        state = "done, skipped" if path.exists() else "training"
        print(f"study run {i}/{len(todo)}: {norm}, {batch} images per batch, seed {seed}, {steps} steps ({state})",
              flush=True)  # fmt: skip
        if path.exists():
            record = json.loads(path.read_text())
        else:
            record = train_one(plan, data, norm, batch, seed)
            write_json_atomic(record, path, "study run", indent=2)
            print(f"  error {record['error']}%, {record.get('wall_s', 0):.0f} s", flush=True)
            write_report([*records, record], plan, out, title)
        records.append(record)
    write_report(records, plan, out, title)
    return records
