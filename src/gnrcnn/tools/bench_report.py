"""``gnrcnn bench --runtimes``, part 3: the rows as one table (printed and ``bench.md``), ``bench.json``
and ``bench.png``, a chart of seconds per image against accuracy (mask AP, or the mean mask IoU with
PyTorch fp32 when no validation set was given), one labelled point per runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import runtime
from ..fileio import write_text_atomic
from .bench_measure import Row


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _accuracy_cells(row: Row, with_ap: bool) -> list[str]:
    if with_ap:
        return [_num(row.box_ap, ".3f"), _num(row.mask_ap, ".3f")]
    return [_num(row.matched, ".3f"), _num(row.mask_iou, ".3f")]


def table(rows: list[Row], with_ap: bool) -> str:
    """A Markdown table: a measured row's figures, a skipped or failed one's reason."""
    acc = ["box AP", "mask AP"] if with_ap else ["matched vs fp32", "mask IoU vs fp32"]
    head = ["runtime", "s/img (min-max)", "vs PyTorch fp32 (min-max)", "folder img/s", "peak memory GB", *acc, "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r.s_per_img is None:
            lines.append(f"| {r.runtime} | " + " | ".join(["-"] * (len(head) - 2)) + f" | {r.reason} |")
            continue
        cells = [
            r.runtime, f"{r.s_per_img:.3f} ({r.s_min:.3f}-{r.s_max:.3f})",
            "-" if r.ratio is None else f"{r.ratio:.2f} ({r.ratio_min:.2f}-{r.ratio_max:.2f})",
            _num(r.folder_img_s, ".2f"), _num(r.peak_gb, ".2f"), *_accuracy_cells(r, with_ap), r.reason or "",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chart(rows: list[Row], with_ap: bool, title: str, path: Path) -> bool:
    """Seconds per image (x) against accuracy (y), one labelled point per measured runtime; False
    without matplotlib."""
    plt = runtime.pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    markers = "osD^vP"
    for i, r in enumerate(rows):
        y = r.mask_ap if with_ap else r.mask_iou
        if r.s_per_img is None or y is None:
            continue
        ax.errorbar([r.s_per_img], [y], xerr=[[r.s_per_img - r.s_min], [r.s_max - r.s_per_img]],
                    fmt=markers[i % len(markers)], capsize=3, markersize=8, label=r.runtime)  # fmt: skip
    ax.legend(loc="best", fontsize=9)  # not labels beside the points: runtimes of one accuracy overlap
    ax.set_xlabel("seconds per image (median; bars: min-max over the rounds)")
    ax.set_ylabel("mask AP" if with_ap else "mean mask IoU with PyTorch fp32's detections")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.set_xlim(left=0)
    ax.margins(x=0.25, y=0.15)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def write(rows: list[Row], out: Path, header: dict[str, Any], with_ap: bool) -> str:
    """Print the table; write bench.md, bench.json and bench.png under ``out``; return the table."""
    text = table(rows, with_ap)
    line = ", ".join(f"{k} {v}" for k, v in header.items())
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(f"{line}\n\n{text}\n", out / "bench.md", "benchmark table")
    write_text_atomic(json.dumps({**header, "rows": [r.to_dict() for r in rows]}, indent=2) + "\n",
                      out / "bench.json", "benchmark results")  # fmt: skip
    title = f"{header.get('model', '')}: {header.get('cpu', '')}, {header.get('threads', '')} threads"
    chart(rows, with_ap, title, out / "bench.png")
    return f"{line}\n\n{text}"
