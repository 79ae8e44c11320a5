"""``gnrcnn study classify`` and ``gnrcnn study group-sweep``: the GN paper's Figure 1 and Table 3 in miniature.

A ``SmallResNet`` is trained on the generated shape crops once per (norm, batch size, seed) of the
plan, under the paper's protocol (``classify_train.py``). Each run's record is written atomically to
``out/runs/<norm>_b<batch>_s<seed>.json`` when it ends, and a run whose record exists is skipped, so
a stopped study continues where it stopped (losing at most the run in progress). After every run
``classify_report.py`` rewrites ``study.md``, ``study.json`` and ``study.png``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import GnrcnnError
from ..fileio import write_json_atomic
from .classify_plan import QUICK, QUICK_SWEEP, SWEEP, ClassifyPlan
from .classify_report import write_report
from .classify_train import load_data, train_one

__all__ = ["QUICK", "QUICK_SWEEP", "SWEEP", "ClassifyPlan", "run", "run_name"]


def run_name(norm: str, batch: int, seed: int) -> str:
    return f"{norm}_b{batch}_s{seed}"


def _check_same_plan(plan: ClassifyPlan, path: Path) -> None:
    """A study folder holds one plan: continuing it with another would mix incomparable runs."""
    if not path.exists():
        return
    old, new = json.loads(path.read_text()), json.loads(json.dumps(asdict(plan)))
    diff = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
    if diff:
        what = "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in diff.items())
        raise GnrcnnError(f"{path.parent}: holds a study with another plan ({what}); use another --out")


def run(plan: ClassifyPlan, out: str | Path, title: str = "classify") -> list[dict[str, Any]]:
    """Every (norm, batch, seed) run in turn (finished ones skipped), the report after each; the records."""
    plan.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_plan(plan, out / "plan.json")
    write_json_atomic(asdict(plan), out / "plan.json", "study plan", indent=2)
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
