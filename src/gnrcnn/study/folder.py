"""A study's folder: one plan per folder, so that continuing it never mixes runs of two plans."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import GnrcnnError
from ..fileio import write_json_atomic, write_text_atomic


def open_study(plan: Any, out: str | Path) -> Path:
    """``out`` made, refused if it holds another plan (one line naming what differs), its ``plan.json`` written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "plan.json"
    if path.exists():
        old, new = json.loads(path.read_text()), json.loads(json.dumps(asdict(plan)))
        diff = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
        if diff:
            what = "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in diff.items())
            raise GnrcnnError(f"{out}: holds a study with another plan ({what}); use another --out")
    write_json_atomic(asdict(plan), path, "study plan", indent=2)
    return out


def write_study_files(out: Path, plan: Any, records: list[dict[str, Any]], table: str,
                      plot: Callable[[Path], Any]) -> None:  # fmt: skip
    """``study.md`` (the table), ``study.json`` (plan and runs) and ``study.png`` in ``out``, rewritten after
    every run so that a stopped study still has its report."""
    write_text_atomic(table, out / "study.md", "study table")
    write_json_atomic({"plan": asdict(plan), "runs": records}, out / "study.json", "study results", indent=2)
    plot(out / "study.png")
