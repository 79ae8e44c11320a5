"""A study's folder: one plan per folder, so that continuing it never mixes runs of two plans."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import GnrcnnError
from ..fileio import write_json_atomic


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
