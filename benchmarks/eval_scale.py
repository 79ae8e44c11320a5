"""``gnrcnn eval --results`` at val2017's scale: 5,000 images x 100 detections with masks.

    python benchmarks/eval_scale.py [--images 5000] [--dets 100] [--dir /tmp/eval_scale]
        [--evaluator auto|pycocotools|faster-coco-eval]

The ground truth and results come from ``eval_speed.make_data`` (octagon polygons, RLE masks for
every detection); the results file is written by ``fileio.write_json_list_atomic``, the streamed
writer ``gnrcnn eval --out`` uses. The command runs in a subprocess; printed are its wall time and
its peak RSS (``ru_maxrss`` of the child) and the size of the results file.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from eval_speed import make_data

from gnrcnn.fileio import write_json_list_atomic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--dets", type=int, default=100)
    ap.add_argument("--classes", type=int, default=80)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/eval_scale"))
    ap.add_argument("--evaluator", default="auto")
    a = ap.parse_args()
    a.dir.mkdir(parents=True, exist_ok=True)
    gt_path, res_path = a.dir / "gt.json", a.dir / "results.json"
    if not res_path.exists():
        t = time.perf_counter()
        gt, results = make_data(a.images, a.dets, a.classes, 0)
        gt_path.write_text(json.dumps(gt))
        write_json_list_atomic(results, res_path)
        print(f"generated {len(results)} detections in {time.perf_counter() - t:.0f} s", flush=True)
        del gt, results
    cmd = [sys.executable, "-m", "gnrcnn", "eval", "--ann", str(gt_path), "--results", str(res_path),
           "--evaluator", a.evaluator]  # fmt: skip
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(out.stdout)
    print(f"gnrcnn eval --results ({a.evaluator}): {wall:.1f} s, peak RSS {peak:.0f} MB; results file "
          f"{res_path.stat().st_size / 1e6:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
