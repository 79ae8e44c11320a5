"""The end of ``gnrcnn train`` in a few lines: which file to ship, what each scored, where its evaluation is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config.schema import Config


def ship_note(work: Path, cfg: Config, final: dict[str, Any], iteration: int, iters_per_epoch: int) -> str:
    """``best.pth`` (kept by validation) against ``model_final.pth``, with the evaluation of each and the one to
    ship: the best one when validation kept one, else the final weights."""
    best_json = work / "best.json"
    metric = cfg.train.best_metric
    lines = [f"results in {work}/:"]
    final_score = _score(final, metric)
    if best_json.exists():
        best = json.loads(best_json.read_text())
        it = best["iteration"]
        tag = "final" if it == iteration else (f"epoch_{it // iters_per_epoch}" if cfg.train.eval_every_epochs
                                               else f"iter_{it}")  # fmt: skip
        lines.append(f"  best.pth         {metric} {best['best']:.4f} at iteration {it}: evaluated in "
                     f"{work / 'eval' / tag}/  <- ship this one")  # fmt: skip
        lines.append(f"  model_final.pth  {metric} {final_score} at iteration {iteration}: evaluated in "
                     f"{work / 'eval' / 'final'}/ (the table above)")  # fmt: skip
    else:
        where = f"evaluated in {work / 'eval' / 'final'}/ (the table above)" if final else "no --val-ann to evaluate"
        lines.append(f"  model_final.pth  {metric} {final_score} at iteration {iteration}: {where}  <- ship this one")
    return "\n".join(lines)


def _score(metrics: dict[str, Any], metric: str) -> str:
    kind, name = metric.split(".", 1)
    value = metrics.get(kind, {}).get(name)
    return f"{value:.4f}" if isinstance(value, float) else "-"
