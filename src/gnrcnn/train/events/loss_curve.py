"""``loss_curve.png``: the total and per-component losses against the iteration, validation AP beside them."""

from __future__ import annotations

from pathlib import Path

from ... import runtime
from ...fileio import write_figure_atomic
from .jsonl import read_metrics


def plot_losses(jsonl: Path, png: Path) -> bool:
    """Drawn from ``metrics.jsonl``; False if matplotlib is missing or nothing was logged."""
    if (plt := runtime.pyplot()) is None:
        return False
    log = read_metrics(jsonl)
    rows, evals = log.steps, log.evals
    if not rows:
        return False
    its = [r["iter"] for r in rows]
    # One colour per line across both axes (losses: solid, AP: dashed with dots), legends outside the data.
    fig, ax = plt.subplots(figsize=(9.5, 4.5), dpi=110, layout="constrained")
    ax.plot(its, [r["loss"] for r in rows], label="total", color="black", linewidth=2)
    loss_colors = iter(["tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:gray"])
    for key in [k for k in rows[0] if k.startswith("loss_")]:
        # a batch of negatives has no box or mask loss: 0 has no place on a log axis
        ax.plot(its, [r[key] if r[key] > 0 else float("nan") for r in rows], label=key[5:], linewidth=1,
                color=next(loss_colors, None))  # fmt: skip
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("training loss" + (" and validation AP" if evals else ""))
    handles, labels = ax.get_legend_handles_labels()
    if evals:  # AP on a second axis, one point per evaluation
        ap = ax.twinx()
        for key, color in (("bbox.AP", "tab:blue"), ("segm.AP", "tab:red")):
            ap.plot([r["iter"] for r in evals], [r["eval"].get(key, 0.0) for r in evals], "o--", color=color,
                    label=f"val {key}")  # fmt: skip
        ap.set_ylabel("AP")
        more = ap.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    write_figure_atomic(fig, png)
    return True
