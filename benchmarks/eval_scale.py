"""``gnrcnn eval --results`` at val2017's scale: 5,000 images x 100 detections with masks.

    python benchmarks/eval_scale.py [--images 5000] [--dets 100] [--dir /tmp/eval_scale]
        [--evaluator auto|pycocotools|faster-coco-eval] [--dry-run]

The ground truth and results come from ``eval_speed.make_data`` (octagon polygons, RLE masks for
every detection); the results file is written by ``fileio.write_json_list_atomic``, the streamed
writer ``gnrcnn eval --out`` uses. The command runs in a fresh process (``harness.in_fresh_process``);
printed are its wall time, its peak RSS (VmHWM) and the size of the results file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

from eval_speed import make_data  # this script's folder, which Python puts first on the path

from gnrcnn.fileio import write_json_list_atomic
from gnrcnn.tools.harness import add_dry_run, in_fresh_process, scratch_folder


def run_eval(argv: list[str]) -> tuple[int, str, str]:
    """``gnrcnn eval`` (in the fresh process): its exit code and what it printed."""
    from gnrcnn.cli import main as gnrcnn

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = gnrcnn(argv)
    return code, out.getvalue(), err.getvalue()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--dets", type=int, default=100)
    ap.add_argument("--classes", type=int, default=80)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/eval_scale"))
    ap.add_argument("--evaluator", default="auto")
    add_dry_run(ap)
    a = ap.parse_args(argv)
    if a.dry_run:
        a.images, a.dets, a.classes, a.dir = 4, 5, 3, Path(scratch_folder())
    a.dir.mkdir(parents=True, exist_ok=True)
    gt_path, res_path = a.dir / "gt.json", a.dir / "results.json"
    if not res_path.exists():
        t = time.perf_counter()
        gt, results = make_data(a.images, a.dets, a.classes, 0)
        gt_path.write_text(json.dumps(gt))
        write_json_list_atomic(results, res_path)
        print(f"generated {len(results)} detections in {time.perf_counter() - t:.0f} s", flush=True)
        del gt, results
    cmd = ["eval", "--ann", str(gt_path), "--results", str(res_path), "--evaluator", a.evaluator]
    t = time.perf_counter()
    child = in_fresh_process(run_eval, cmd, timeout=3600)
    wall = time.perf_counter() - t
    code, printed, errors = child.value
    if code:
        sys.exit(errors[-3000:])
    peak = child.peak_rss_gb * 1024
    print(printed)
    print(f"gnrcnn eval --results ({a.evaluator}): {wall:.1f} s, peak RSS {peak:.0f} MB; results file "
          f"{res_path.stat().st_size / 1e6:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
