"""The short text summary of ``gnrcnn analyze`` (``summary.txt``, also printed)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .plots import IOU_TYPES


def summary_text(report: dict[str, Any], names: list[str]) -> str:
    opts, c = report["options"], report["counts"]
    counts = np.array(report["confusion"]["counts"])
    k = len(names)
    types = [t for t in IOU_TYPES if t in report]
    lines = [f"gnrcnn analyze: {report['results']} against {report['ann']}",
             f"{c['images']} images ({c['images_with_objects']} with objects), {c['objects']} objects, "
             f"{c['detections']} detections ({c['detections_above_thr']} with score >= {opts['score_thr']:g})",
             "", "        AP@[.5:.95]   AP50   AP75"]  # fmt: skip
    for t in types:
        r = report[t]
        lines.append(f"  {IOU_TYPES[t]:<5} {r['AP']:11.3f} {r['AP50']:6.3f} {r['AP75']:6.3f}")
    right, objects = int(np.trace(counts[:k, :k])), int(counts[:k].sum())
    other, missed, spurious = int(counts[:k, :k].sum()) - right, int(counts[:k, k].sum()), int(counts[k, :k].sum())
    lines += ["", f"at score >= {opts['score_thr']:g} and box IoU >= {opts['iou_thr']:g}: "
              f"{right} of {objects} objects found with the right class ({_pct(right, objects)}), {other} with "
              f"another class, {missed} missed; {spurious} spurious predictions", ""]  # fmt: skip
    width = max(8, *(len(n) for n in names))
    head = f"  {'class':<{width}}" + "".join(f" {IOU_TYPES[t] + ' AP':>8}" for t in types)
    lines.append(head + "  objects    found  other class  missed  spurious")
    for i, n in enumerate(names):
        aps = "".join(f" {report[t]['per_class'][n]:8.3f}" for t in types)
        found, total = int(counts[i, i]), int(counts[i].sum())
        lines.append(f"  {n:<{width}}{aps}  {total:7d}  {found:7d}  {total - found - int(counts[i, k]):11d}  "
                     f"{int(counts[i, k]):6d}  {int(counts[k, i]):8d}")  # fmt: skip
    confusions = sorted(((int(counts[i, j]), names[i], names[j]) for i in range(k) for j in range(k) if i != j),
                        reverse=True)  # fmt: skip
    top = [f"{a} taken for {b}: {n}" for n, a, b in confusions[:5] if n]
    lines += ["", "most frequent confusions: " + ("; ".join(top) if top else "none")]
    ranked_by = IOU_TYPES[report["ranked_by"]]
    for kind in ("worst", "best"):
        shown = ", ".join(f"{e['file_name']} ({e['AP']:.3f})" for e in report[kind])
        lines.append(f"{kind} images by {ranked_by} AP: {shown or 'none'}")
    return "\n".join(lines) + "\n"


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "n/a"
