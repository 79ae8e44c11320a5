"""CPU runtimes side by side on R-50 with the reference weights: ``gnrcnn bench --runtimes`` (which does the
work: exports, alternating rounds, peak memory in a fresh process, agreement with PyTorch fp32).

    python benchmarks/cpu_runtimes.py [--config mask-rcnn_r50_fpn_gn-all_2x_coco] [--rounds 5] [--threads 2]
                                      [--out results/cpu_runtimes] [--dry-run]

Weights: ``gnrcnn.weights.reference`` (random but lively: about 100 detections on the bundled photo, so the
mask head works as a real model's does); INT8 calibrated on the reference photos of tests/assets.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from gnrcnn.cli import main as gnrcnn
from gnrcnn.tools.harness import DRY_CONFIG, DRY_OVERRIDES, add_dry_run
from gnrcnn.weights import reference

CALIB = Path(__file__).resolve().parent.parent / "tests" / "assets" / "reference" / "more"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="mask-rcnn_r50_fpn_gn-all_2x_coco")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="results/cpu_runtimes")
    add_dry_run(ap)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.dry_run:  # the plumbing only: PyTorch fp32 of the tiny config
            model = ["--config", DRY_CONFIG, "--weights", "none", *(f"--set={o}" for o in DRY_OVERRIDES)]
            more = ["--only", "pytorch fp32", "--no-memory", "--rounds", "1", "--out", tmp]
        else:
            weights = reference.write_checkpoint(args.config, Path(tmp) / "weights.pth")
            model = ["--config", args.config, "--weights", str(weights)]
            more = ["--calib", str(CALIB), "--calib-count", "3", "--rounds", str(args.rounds), "--out", args.out]
        return gnrcnn(["bench", "--runtimes", *model, "--threads", str(args.threads), *more])


if __name__ == "__main__":
    raise SystemExit(main())
