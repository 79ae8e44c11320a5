"""Reading a COCO file of 10k, 40k and 118k images: gnrcnn's index against pycocotools' ``COCO()``.

    python benchmarks/dataset_scale.py [--dir /tmp/coco_scale] [--sizes 10000 40000 118287]
        [--out docs/img/dataset_scale.png] [--json results.json] [--dry-run]

Files come from ``coco_synth.py`` (train2017's shape: 80 categories, ~7.5 polygons per image) and are
kept in ``--dir`` for the next run. Each measurement runs in a fresh process
(``harness.in_fresh_process``): the time from reading the file to a validated index (gnrcnn:
``CocoDataset(file, root, train=True, check_files=False)``; pycocotools: ``COCO(file)``), the peak
RSS of the whole process (VmHWM, the imports included: both processes import torch, the harness's)
and the RSS after the imports alone. Prints a Markdown table and draws time and peak memory against
the image count on log-log axes. On a shared machine compare the ratios of one run, not times
across runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from coco_synth import write_coco  # this script's folder, which Python puts first on the path

from gnrcnn.runtime import current_rss_gb
from gnrcnn.tools.harness import add_dry_run, in_fresh_process, scratch_folder


def _now_rss_mb() -> float:
    return current_rss_gb() * 1024


def measure(tool: str, path: Path) -> dict:
    """In this process (the parent runs it in a fresh one): index ``path`` with ``tool``."""
    path = Path(path)
    if tool == "gnrcnn":
        from gnrcnn.data.coco import CocoDataset

        base = _now_rss_mb()
        t = time.perf_counter()
        ds = CocoDataset(path, path.parent, train=True, check_files=False)
        count = (len(ds), ds.num_instances, ds.index.nbytes / 2**20)
    else:
        import contextlib
        import io

        from pycocotools.coco import COCO

        base = _now_rss_mb()
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(path))
        count = (len(coco.imgs), len(coco.anns), 0.0)
    elapsed = time.perf_counter() - t
    return {"tool": tool, "time_s": elapsed, "import_mb": base, "held_mb": _now_rss_mb(),
            "images": count[0], "annotations": count[1], "index_mb": count[2]}  # fmt: skip


def _run(tool: str, path: Path) -> dict:
    child = in_fresh_process(measure, tool, str(path), timeout=1800)
    return {**child.value, "peak_mb": child.peak_rss_gb * 1024}


def _table(rows: list[dict]) -> str:
    lines = ["| images | annotations | JSON MB | pycocotools s | gnrcnn s | time ratio | pycocotools peak MB | "
             "gnrcnn peak MB (imports) | memory ratio | gnrcnn index MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        p, g = r["pycocotools"], r["gnrcnn"]
        lines.append(f"| {r['n']:,} | {p['annotations']:,} | {r['mb']:.0f} | {p['time_s']:.1f} | {g['time_s']:.1f} "
                     f"| {g['time_s'] / p['time_s']:.2f} | {p['peak_mb']:.0f} | {g['peak_mb']:.0f} "
                     f"({g['import_mb']:.0f}) | {g['peak_mb'] / p['peak_mb']:.2f} | {g['index_mb']:.0f} |")  # fmt: skip
    return "\n".join(lines)


def _plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    n = [r["n"] for r in rows]
    for ax, key, label in ((axes[0], "time_s", "index time (s)"), (axes[1], "peak_mb", "peak RSS (MB)")):
        for tool, style in (("pycocotools", "o-"), ("gnrcnn", "s-")):
            ax.loglog(n, [r[tool][key] for r in rows], style, label=tool)
        if key == "peak_mb":  # gnrcnn's process imports torch first (~0.9 GB): what the index adds above it
            ax.loglog(n, [r["gnrcnn"]["peak_mb"] - r["gnrcnn"]["import_mb"] for r in rows], "s--", color="C1",
                      alpha=0.6, label="gnrcnn above its imports")  # fmt: skip
        ax.set_xlabel("images")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("Reading and checking a COCO file (train2017-shaped, ~7.5 polygons per image)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/coco_scale"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000, 118_287])
    ap.add_argument("--out", type=Path, default=Path("docs/img/dataset_scale.png"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--replot", type=Path, help="draw the plot and table of an earlier run's --json file")
    add_dry_run(ap)
    a = ap.parse_args(argv)
    if a.dry_run:
        tmp = Path(scratch_folder())
        a.dir, a.sizes, a.out = tmp, [20], tmp / "dataset_scale.png"
    if a.replot:
        rows = json.loads(a.replot.read_text())
        print(_table(rows))
        _plot(rows, a.out)
        return
    a.dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in a.sizes:
        path = a.dir / f"coco_{n}.json"
        if not path.exists():
            write_coco(path, n)
        row = {"n": n, "mb": path.stat().st_size / 1e6}
        for tool in ("pycocotools", "gnrcnn"):
            row[tool] = _run(tool, path)
            print(f"{n} images, {tool}: {row[tool]}", flush=True)
        rows.append(row)
    print(_table(rows))
    _plot(rows, a.out)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
