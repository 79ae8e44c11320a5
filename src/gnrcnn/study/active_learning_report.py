"""The active-learning study's table (``study.md``), records (``study.json``) and picture (``study.png``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import runtime
from ..fileio import write_figure_atomic
from .active_learning_plan import Plan
from .folder import write_study_files

METRICS = (("mask_AP", "mask AP"), ("box_AP", "box AP"))


def curve(records: list[dict[str, Any]], signal: str, key: str) -> dict[int, list[float]]:
    """Labelled count -> the ``key`` of every seed's run (the start runs belong to every signal's curve)."""
    out: dict[int, list[float]] = {}
    for r in records:
        if r.get("signal", signal) == signal and r.get(key) is not None:
            out.setdefault(r["labelled"], []).append(r[key])
    return out


def table(records: list[dict[str, Any]], plan: Plan) -> str:
    counts = plan.labelled()
    lines = []
    for key, title in METRICS:
        lines += [f"{title} (AP@[.5:.95]) by images labelled, mean of {len(plan.seeds)} seed(s) (each seed's in "
                  "brackets):", "", "| signal | " + " | ".join(str(c) for c in counts) + " |",
                  "|---|" + "---:|" * len(counts)]  # fmt: skip
        for signal in plan.signals:
            points = curve(records, signal, key)
            cells = [f"{sum(v) / len(v):.3f} ({', '.join(f'{x:.3f}' for x in v)})" if (v := points.get(c)) else "-"
                     for c in counts]  # fmt: skip
            lines.append(f"| {signal} | " + " | ".join(cells) + " |")
        lines.append("")
    walls = [r["wall_s"] for r in records if "wall_s" in r]
    lines.append(f"{len(walls)} runs, {plan.iterations} iterations each, {sum(walls) / 60:.1f} min of training, "
                 "evaluation and ranking in all.")  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(records: list[dict[str, Any]], plan: Plan, png: Path) -> bool:
    """Mask and box AP against images labelled, one line per signal (the mean), each seed's runs as dots."""
    if (plt := runtime.pyplot()) is None:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110, sharey=True)
    for ax, (key, title) in zip(axes, METRICS):
        for i, signal in enumerate(plan.signals):
            points = sorted(curve(records, signal, key).items())
            if not points:
                continue
            shift = (i - (len(plan.signals) - 1) / 2) * 0.4  # the seeds' dots side by side, not on one another
            seeds = min(len(v) for _, v in points)  # a signal cut short has fewer seeds past the start
            name = signal if seeds == len(plan.seeds) else f"{signal} ({seeds} seed{'s' * (seeds > 1)})"
            line = ax.plot([c for c, _ in points], [sum(v) / len(v) for _, v in points], marker="o", linewidth=2,
                           label=name, linestyle="--" if signal == "random" else "-")  # fmt: skip
            ax.scatter([c + shift for c, v in points for _ in v], [x for _, v in points for x in v], s=12,
                       color=line[0].get_color(), alpha=0.5)  # fmt: skip
        ax.set_xticks(plan.labelled())
        ax.set(xlabel="images labelled", title=f"{title} (AP@[.5:.95])")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("AP on the validation set")
    if axes[0].lines:
        axes[0].legend(loc="best", fontsize=8, title="images added by")
    fig.suptitle(f"shapes, {plan.k} images added per round, retrained {plan.iterations} iterations each round; "
                 f"lines: mean of {len(plan.seeds)} seeds, dots: each seed", fontsize=9)  # fmt: skip
    fig.tight_layout()
    write_figure_atomic(fig, png)
    return True


def write_report(records: list[dict[str, Any]], plan: Plan, out: Path) -> None:
    write_study_files(out, plan, records, table(records, plan), lambda png: plot(records, plan, png))
