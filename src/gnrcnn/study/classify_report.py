"""The classification studies' table (markdown + JSON) and plot: top-1 error, mean over seeds with the
spread (lowest - highest seed), against the batch size (``classify``) or the grouping (``group-sweep``)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..fileio import write_figure_atomic, write_json_atomic, write_text_atomic
from .classify_plan import ClassifyPlan

STYLES = {"bn": ("s", "-", "tab:blue"), "gn": ("o", "-", "tab:red"), "ln": ("^", "--", "tab:green"),
          "in": ("v", ":", "tab:purple")}  # fmt: skip


def norm_name(spec: str, plan: ClassifyPlan) -> str:
    if spec == "gn":
        per = "/".join(str(w // min(plan.groups, w)) for w in plan.widths)
        return f"GN (G = {plan.groups}: {per} channels per group by stage)"
    if spec.startswith("gn_g"):
        return f"GN, G = {spec[4:]}" + (" (LN)" if spec == "gn_g1" else "")
    if spec.startswith("gn_c"):
        return f"GN, {spec[4:]} channel(s) per group" + (" (IN)" if spec == "gn_c1" else "")
    return spec.upper()


def summary(records: list[dict[str, Any]], key: str = "error") -> dict[tuple[str, int], dict[str, Any]]:
    """(norm, batch) -> mean, lowest, highest of ``key`` over the finished seeds, and how many."""
    by: dict[tuple[str, int], list[float]] = {}
    for r in records:
        if r.get(key) is not None:
            by.setdefault((r["norm"], r["batch"]), []).append(r[key])
    return {k: {"mean": sum(v) / len(v), "low": min(v), "high": max(v), "seeds": len(v)} for k, v in by.items()}


def _cell(s: dict[str, Any] | None) -> str:
    if s is None:
        return "not run yet"
    return f"{s['mean']:.1f} ({s['low']:.1f}-{s['high']:.1f})" if s["seeds"] > 1 else f"{s['mean']:.1f}"


def table(records: list[dict[str, Any]], plan: ClassifyPlan) -> str:
    """Rows: norms; columns: images per batch; cells: top-1 error %, mean (lowest-highest seed)."""
    err, stats = summary(records), summary(records, "error_batch_stats")
    head = "| norm | " + " | ".join(f"{b} img/batch" for b in plan.batches) + " |"
    lines = [head, "|---" * (len(plan.batches) + 1) + "|"]
    for n in plan.norms:
        lines.append(f"| {norm_name(n, plan)} | " + " | ".join(_cell(err.get((n, b))) for b in plan.batches) + " |")
        if n == "bn" and stats:
            lines.append("| BN, test batches normalised by their own statistics | "
                         + " | ".join(_cell(stats.get((n, b))) for b in plan.batches) + " |")  # fmt: skip
    failed = [f"{r['norm']} b{r['batch']} s{r['seed']}" for r in records if r.get("error") is None]
    lines += ["", f"Top-1 error (%) on {plan.test_images} test images of {plan.size} px, mean over seeds "
              f"{list(plan.seeds)} (lowest-highest); {plan.train_images} training images, {plan.epochs} epochs at "
              f"every batch size, lr {plan.base_lr} x batch / {plan.base_batch}, cosine decay; "
              f"widths {list(plan.widths)}, blocks {list(plan.blocks)}; "
              "BN tested with its running averages."]  # fmt: skip
    if failed:
        lines.append(f"Diverged (non-finite loss): {', '.join(failed)}.")
    wall = sum(r.get("wall_s", 0) for r in records)
    lines.append(f"{len(records)} runs, {wall / 60:.1f} minutes of training and testing in all.")
    return "\n".join(lines) + "\n"


def _sweep_axes(plan: ClassifyPlan) -> list[tuple[str, str]]:
    kinds = (("gn_g", "groups G"), ("gn_c", "channels per group"))
    return [(p, t) for p, t in kinds if any(n.startswith(p) for n in plan.norms)]


def _plot_sweep(axes_list: list[Any], err: dict, plan: ClassifyPlan) -> None:
    batch = plan.batches[0]
    for ax, (prefix, label) in zip(axes_list, _sweep_axes(plan)):
        pts = sorted((int(n[4:]), err[(n, batch)]) for n in plan.norms if n.startswith(prefix) and (n, batch) in err)
        xs = [p[0] for p in pts]
        ax.errorbar(xs, [p[1]["mean"] for p in pts], yerr=[[p[1]["mean"] - p[1]["low"] for p in pts],
                    [p[1]["high"] - p[1]["mean"] for p in pts]], marker="o", capsize=4, linewidth=2)  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set(xlabel=label, title=f"GN by {label} ({batch} img/batch)")


def _plot_batches(ax: Any, records: list[dict[str, Any]], err: dict, plan: ClassifyPlan) -> None:
    for n in plan.norms:
        marker, line, colour = STYLES.get(n, ("o", "-", None))
        pts = sorted((b, err[(n, b)]) for b in plan.batches if (n, b) in err)
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1]["mean"] for p in pts], marker=marker, linestyle=line, color=colour,
                linewidth=2, markersize=7, label=norm_name(n, plan))  # fmt: skip
        seeds = [(r["batch"], r["error"]) for r in records if r["norm"] == n and r.get("error") is not None]
        ax.scatter([s[0] for s in seeds], [s[1] for s in seeds], s=14, color=colour, alpha=0.5)
        ax.fill_between([p[0] for p in pts], [p[1]["low"] for p in pts], [p[1]["high"] for p in pts], color=colour,
                        alpha=0.12)  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(plan.batches), [str(b) for b in plan.batches])
    ax.invert_xaxis()  # as the paper's Figure 1: 32 on the left, 2 on the right
    ax.set(xlabel="images per batch", title="top-1 error against batch size (dots: seeds, band: spread)")
    if ax.lines:
        ax.legend(loc="best", fontsize=8)


def plot(records: list[dict[str, Any]], plan: ClassifyPlan, png: Path) -> bool:
    """Error against the batch (several batches) or against G and channels per group (one batch)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    err = summary(records)
    sweep = len(plan.batches) == 1 and bool(_sweep_axes(plan))
    fig, axes = plt.subplots(1, len(_sweep_axes(plan)) if sweep else 1, figsize=(10 if sweep else 7, 4.5), dpi=110,
                             squeeze=False, sharey=True)  # fmt: skip
    if sweep:
        _plot_sweep(list(axes[0]), err, plan)
    else:
        _plot_batches(axes[0][0], records, err, plan)
    for ax in axes[0]:
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("top-1 error (%)")
    fig.suptitle(f"SmallResNet {list(plan.widths)} on {plan.size}-px shape crops, {plan.epochs} epochs, "
                 f"seeds {list(plan.seeds)}", fontsize=10)  # fmt: skip
    fig.tight_layout()
    write_figure_atomic(fig, png)
    return True


def write_report(records: list[dict[str, Any]], plan: ClassifyPlan, out: Path, title: str) -> None:
    """``study.md``, ``study.json`` and ``study.png`` in ``out``, rewritten after every run."""
    text = f"# gnrcnn study {title}\n\n" + table(records, plan)
    write_text_atomic(text, out / "study.md", "study table")
    summ = [{"norm": n, "batch": b, **s} for (n, b), s in summary(records).items()]
    write_json_atomic({"plan": asdict(plan), "summary": summ, "runs": records}, out / "study.json", "study results",
                      indent=2)  # fmt: skip
    plot(records, plan, out / "study.png")
