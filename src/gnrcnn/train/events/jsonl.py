"""``metrics.jsonl``: the run's log, one JSON object per line, written and read only through ``fileio``.

The lines, each with its ``iter``:
- first, the run's ``data`` record (``train/data_summary.py``);
- one per logged step (group ``train``): ``epoch``, ``loss`` (the total), each ``loss_*``, ``lr``,
  ``time`` (s/iteration), ``data_time``, ``eta_s``, ``mem_mb`` (and ``grad_norm`` when clipping);
- one per evaluation (group ``val``): ``eval`` ({"bbox.AP": ..., "segm.AP": ...}), ``epoch``,
  ``best_metric``, ``best``, ``best_iter``, ``evals_since_best``;
- a user's scalars: ``{"iter": n, "<group>": {...}}``; a picture: ``{"iter": n, "image": name, "path":
  "images/<name>/iter_<n>.png"}`` (relative to the work folder).
Read the kind you want by its key (``read_metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...fileio import JsonLines, keep_json_lines, read_json_lines
from .store import Event, Image, Record, Scalars

METRICS = "metrics.jsonl"


class JsonWriter:
    """Appends every event worth keeping to ``metrics.jsonl``; a resumed run first drops the lines logged
    after its checkpoint (a crash after logging, before saving), so its log reads as one uninterrupted run's."""

    name = "json"

    def __init__(self, work_dir: Path) -> None:
        self.path = work_dir / METRICS
        self.lines: JsonLines | None = None
        self.has_data = False

    def open(self, start: int) -> None:
        # A fresh run (start 0) keeps nothing; a resumed one keeps its first data record.
        kept = keep_json_lines(self.path, lambda r: _iter(r) <= start and not ("data" in r and _iter(r) >= start))
        self.has_data = any("data" in r for r in kept)
        self.lines = JsonLines(self.path, fresh=False, kind="log")

    def write(self, event: Event) -> None:
        line = _line(event, self.path.parent)
        if line is None or self.lines is None:
            return
        if isinstance(event, Record) and event.key == "data":
            if self.has_data:
                return
            self.has_data = True
        self.lines.append(line)

    def close(self, outcome: str) -> None:
        if self.lines is not None:
            self.lines.close()
            self.lines = None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def _iter(record: Any) -> int:
    return int(record["iter"]) if isinstance(record, dict) and isinstance(record.get("iter"), int) else -1


def _line(event: Event, work: Path) -> dict[str, Any] | None:
    if isinstance(event, Scalars):
        if event.group == "iter":  # every iteration: kept as the window means of ``train``
            return None
        if event.group == "train":
            return {"iter": event.iteration, **event.values}
        key = "eval" if event.group == "val" else event.group
        return {"iter": event.iteration, key: event.values, **event.extra}
    if isinstance(event, Image):
        return {"iter": event.iteration, "image": event.name, "path": str(event.path.relative_to(work))}
    if isinstance(event, Record):
        return {"iter": event.iteration, event.key: event.value}
    return None


@dataclass
class MetricsLog:
    """``metrics.jsonl`` read back by kind."""

    steps: list[dict[str, Any]] = field(default_factory=list)  # the logged steps (``loss``, ``lr``, ...)
    evals: list[dict[str, Any]] = field(default_factory=list)  # the evaluations (``eval``)
    data: dict[str, Any] | None = None  # the run's data record
    other: list[dict[str, Any]] = field(default_factory=list)  # pictures, a user's scalars


def read_metrics(path: str | Path) -> MetricsLog:
    """``path``: a ``metrics.jsonl`` or the work folder holding one."""
    path = Path(path)
    log = MetricsLog()
    for r in read_json_lines(path / METRICS if path.is_dir() else path):
        if not isinstance(r, dict):
            continue
        if "loss" in r:
            log.steps.append(r)
        elif "eval" in r:
            log.evals.append(r)
        elif "data" in r and log.data is None:
            log.data = r["data"]
        else:
            log.other.append(r)
    return log
