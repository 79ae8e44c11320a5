"""``gnrcnn study detect-pretrained``'s table (markdown + JSON) and picture: box and mask AP per variant,
mean over the detection seeds with the spread, beside the paper's COCO numbers; the backbones' errors."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import runtime
from ..fileio import write_figure_atomic, write_json_atomic, write_text_atomic
from .detect_pretrained_plan import VARIANTS, DetectPretrainedPlan

NAMES = {"bn_star": "BN* (frozen BN backbone; FPN, heads: no norm)", "gn_backbone": "GN backbone (FPN, heads: no norm)",
         "gn_all": "GN backbone, FPN and heads (GN-all)", "gn_all_scratch": "GN-all from scratch"}  # fmt: skip
SHORT = {"bn_star": "BN*", "gn_backbone": "GN backbone", "gn_all": "GN-all", "gn_all_scratch": "GN-all, scratch"}
# Wu & He 2018 (ResNet-50 FPN Mask R-CNN on COCO, box / mask AP), as quoted in issue 24; GN = GN-all.
PAPER = {"bn_star": "38.6 / 34.2", "gn_all": "40.0 / 34.8"}
COLOURS = {"bn_star": "tab:blue", "gn_backbone": "tab:orange", "gn_all": "tab:red", "gn_all_scratch": "tab:gray"}


def summary(runs: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """variant -> mean, lowest, highest of ``key`` over its finished seeds, and how many; diverged seeds counted."""
    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        s = out.setdefault(r["variant"], {"values": [], "diverged": 0})
        if r.get(key) is None:
            s["diverged"] += 1
        else:
            s["values"].append(r[key])
    for s in out.values():
        v = s.pop("values")
        s.update(mean=sum(v) / len(v), low=min(v), high=max(v), seeds=len(v)) if v else s.update(seeds=0)
    return out


def _cell(s: dict[str, Any] | None) -> str:
    if s is None:
        return "not run yet"
    text = f"{s['mean']:.3f} ({s['low']:.3f}-{s['high']:.3f})" if s["seeds"] > 1 else (
        f"{s['mean']:.3f}" if s["seeds"] else "")  # fmt: skip
    return (text + (f", {s['diverged']} diverged" if s["diverged"] else "")).strip(", ") or "diverged"


def table(backbones: list[dict[str, Any]], runs: list[dict[str, Any]], plan: DetectPretrainedPlan) -> str:
    box, mask = summary(runs, "box_AP"), summary(runs, "mask_AP")
    lines = [
        "| variant | box AP | mask AP | paper, COCO R50-FPN (box / mask) | wall min per run |",
        "|---|---|---|---|---|",
    ]
    for v in plan.variants:
        walls = [r["wall_s"] / 60 for r in runs if r["variant"] == v and "wall_s" in r]
        wall = f"{min(walls):.1f}-{max(walls):.1f}" if walls else ""
        lines.append(f"| {NAMES[v]} | {_cell(box.get(v))} | {_cell(mask.get(v))} | {PAPER.get(v, '')} | {wall} |")
    d, batch = plan.detect, plan.detect.batches[0]
    lines += ["", f"COCO AP@[.5:.95] on {d.val_images} validation images of {d.size} px (the demo's shapes), mean "
              f"over detection seeds {list(plan.seeds)} (lowest-highest); {d.iters(batch)} iterations at {batch} "
              f"images per batch ({d.iters(batch) * batch} images seen), lr {plan.base_lr} x {batch} / 16, the same "
              "for every variant. Paper: Wu & He 2018, as quoted in issue 24 (its GN is GN-all).", "",
              "| pretrained backbone | top-1 error % | final training loss | steps | wall min |",
              "|---|---|---|---|---|"]  # fmt: skip
    for b in backbones:
        lines.append(f"| ResNet-{b['depth']}, {b['norm'].upper()} | {b['error']} | {b['train_loss']} | {b['steps']} | "
                     f"{b['wall_s'] / 60:.1f} |")  # fmt: skip
    p = plan.pretrain
    lines += ["", f"Pretraining: {p.train_images} shape crops of {p.size} px, {len(p.classes)} classes, {p.epochs} "
              f"epochs at {p.batches[0]} images per batch, lr {p.base_lr} x {p.batches[0]} / {p.base_batch}, cosine; "
              f"top-1 error on {p.test_images} test crops (BN: running averages)."]  # fmt: skip
    wall = sum(r.get("wall_s", 0) for r in [*backbones, *runs])
    lines.append(f"{len(backbones)} backbones and {len(runs)} detection runs, {wall / 60:.1f} minutes in all.")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict[str, Any]], plan: DetectPretrainedPlan, png: Path) -> bool:
    """Bars of box and mask AP per variant (the seeds' mean), each seed a dot; False without matplotlib."""
    if (plt := runtime.pyplot()) is None:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110, sharey=True)
    xs = range(len(plan.variants))
    for ax, key, title in zip(axes, ("box_AP", "mask_AP"), ("box AP", "mask AP")):
        s = summary(runs, key)
        for x, v in zip(xs, plan.variants):
            seeds = [r[key] for r in runs if r["variant"] == v and r.get(key) is not None]
            if seeds:
                ax.bar(x, s[v]["mean"], width=0.6, color=COLOURS[v], alpha=0.45)
                ax.scatter([x] * len(seeds), seeds, color=COLOURS[v], s=24, zorder=3)
                ax.text(x + 0.32, s[v]["mean"], f"{s[v]['mean']:.3f}", va="center", fontsize=8)
            elif v in s:
                ax.text(x, 0.005, "diverged", ha="center", rotation=90, fontsize=8)
        ax.set_xticks(list(xs), [SHORT[v] for v in plan.variants])
        ax.set(title=f"{title} (AP@[.5:.95]; bar: mean, dots: seeds)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("AP")
    d = plan.detect
    fig.suptitle(f"ResNet-{plan.depth} pretrained on shape crops, fine-tuned at {d.batches[0]} images per batch, "
                 f"{d.iters(d.batches[0])} iterations, base lr {plan.base_lr} at 16 images", fontsize=10)  # fmt: skip
    fig.tight_layout()
    write_figure_atomic(fig, png)
    return True


def write_report(backbones: list[dict[str, Any]], runs: list[dict[str, Any]], plan: DetectPretrainedPlan,
                 out: Path) -> None:  # fmt: skip
    """``study.md``, ``study.json`` and ``study.png`` in ``out``, rewritten after every run."""
    write_text_atomic("# gnrcnn study detect-pretrained\n\n" + table(backbones, runs, plan), out / "study.md",
                      "study table")  # fmt: skip
    summ = {v: {"box_AP": summary(runs, "box_AP").get(v), "mask_AP": summary(runs, "mask_AP").get(v),
                "norms": VARIANTS[v][1], "backbone": VARIANTS[v][0]} for v in plan.variants}  # fmt: skip
    write_json_atomic({"plan": asdict(plan), "summary": summ, "backbones": backbones, "runs": runs},
                      out / "study.json", "study results", indent=2)  # fmt: skip
    plot(runs, plan, out / "study.png")
