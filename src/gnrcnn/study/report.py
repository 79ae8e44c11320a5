"""The study's table (markdown + JSON) and plot (AP against images per batch, one line per norm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import runtime
from ..fileio import write_figure_atomic
from .folder import write_study_files
from .plan import Plan

# (marker, line style) per norm, so that lines lying on each other stay visible
STYLES = {"gn": ("o", "-"), "bn": ("s", "-"), "none": ("^", "--"), "frozen_bn": ("v", ":")}
NORM_NAMES = {"gn": "GN", "bn": "BN (batch statistics)", "frozen_bn": "frozen BN (identity from scratch)",
              "none": "no norm"}  # fmt: skip


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "not run yet"
    if r.get("box_AP") is None:
        return "diverged" if "non-finite" in r.get("failed", "") else "failed"
    return f"{r['box_AP']:.3f} / {r['mask_AP']:.3f}"


def table(records: list[dict[str, Any]], plan: Plan) -> str:
    """Rows: norms; columns: images per batch; cells: box AP / mask AP (AP@[.5:.95])."""
    by = {(r["norm"], r["batch"]): r for r in records}
    head = "| norm | " + " | ".join(f"{b} img/batch" for b in plan.batches) + " |"
    lines = [head, "|---" * (len(plan.batches) + 1) + "|"]
    for n in plan.norms:
        lines.append(f"| {NORM_NAMES.get(n, n)} | " + " | ".join(_cell(by.get((n, b))) for b in plan.batches) + " |")
    iters = ", ".join(f"{plan.iters(b)} at {b}" for b in plan.batches)
    seen = (f"{plan.iterations} iterations at every batch size (equal-iterations control: batch b sees "
            f"{plan.iterations} x b images)" if plan.iterations else
            f"{plan.images} training images seen by every run (iterations: {iters})")  # fmt: skip
    lines += ["", f"Box AP / mask AP (COCO AP@[.5:.95]) on {plan.val_images} validation images of {plan.size} px, "
              f"after {seen}; lr scaled linearly with the batch; seed {plan.seed}; BN evaluated with its running "
              "statistics."]  # fmt: skip
    times = [f"{r['norm']} b{r['batch']} {r['wall_s'] / 60:.1f}" for r in records if "wall_s" in r]
    if times:
        lines.append(f"Wall minutes per run (training + evaluation): {', '.join(times)}.")
    return "\n".join(lines) + "\n"


def plot(records: list[dict[str, Any]], plan: Plan, png: Path) -> bool:
    """Box and mask AP against images per batch (log2 axis), one line per norm; False without matplotlib."""
    if (plt := runtime.pyplot()) is None:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110, sharey=True)
    for ax, key, title in zip(axes, ("box_AP", "mask_AP"), ("box AP", "mask AP")):
        for n in plan.norms:
            pts = sorted((r["batch"], r[key]) for r in records if r["norm"] == n and r.get(key) is not None)
            if pts:
                marker, line = STYLES.get(n, ("o", "-"))
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, linestyle=line, linewidth=2,
                        markersize=7, label=NORM_NAMES.get(n, n))  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(plan.batches), [str(b) for b in plan.batches])
        ax.set(xlabel="images per batch", title=f"{title} (AP@[.5:.95])")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("AP")
    if axes[0].lines:  # every run may have diverged: nothing to name
        axes[0].legend(loc="best", fontsize=8)
    same = f"{plan.iterations} iterations" if plan.iterations else f"{plan.images} images seen"
    fig.suptitle(f"same detector, same {same}, lr scaled with the batch", fontsize=10)
    fig.tight_layout()
    write_figure_atomic(fig, png)
    return True


def write_report(records: list[dict[str, Any]], plan: Plan, out: Path) -> None:
    """``study.md``, ``study.json`` and ``study.png`` in ``out``, rewritten after every run."""
    write_study_files(out, plan, records, table(records, plan), lambda png: plot(records, plan, png))
