"""Validation during training, timed: what ``Trainer.evaluate`` runs (a ``Detector`` lent the model, then
``evaluation.evaluate`` over the validation set), old code against new, in alternating processes.

    python benchmarks/validation_speed.py --weights model_final.pth --ann val.json --data-root DATA \
        --old OLD_SRC --new NEW_SRC [--rounds 3] [--evals 3]
    python benchmarks/validation_speed.py --weights ... --ann ... --data-root ... --in-process [--rounds 3]
    python benchmarks/validation_speed.py --dry-run     (--in-process on a random tiny model and 2 images)

``--in-process`` times, alternating in one process (``tools/harness.py``), the new ``evaluate`` (a
``GroundTruth`` made once, as the trainer does) against the loop it replaced (``OLD_LOOP``, copied from
before the one loop: the dataset and the evaluator's COCO read on every evaluation, one image at a time,
no prefetching).

Each process (PYTHONPATH=OLD_SRC or NEW_SRC) loads the model, then times ``--evals`` evaluations; the
processes alternate old, new, old, new, ... ``--rounds`` times. Where the code has ``GroundTruth`` (read
once per training run), it is made once per process, as the trainer makes it, before the first evaluation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from gnrcnn.tools import harness

CHILD = """
import json, sys, time
import torch
from gnrcnn import load_model
from gnrcnn.evaluation.evaluate import evaluate
from gnrcnn.predict.detector import Detector
weights, ann, root, evals = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
loaded = load_model(weights=weights)
gt = ann
try:
    from gnrcnn.evaluation.ground_truth import GroundTruth
    gt = GroundTruth(ann, root)  # the trainer's: made once per run, at its start (untimed, as before)
except ImportError:
    pass
times = []
for _ in range(evals):
    det = Detector(loaded.cfg, loaded.model)  # as Trainer.evaluate lends its model
    start = time.perf_counter()
    evaluate(det, gt, root)
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def old_evaluate(detector, ann: str, root: str) -> dict:  # type: ignore[no-untyped-def]
    """``evaluation.evaluate`` as it was before the one loop (single process)."""
    from dataclasses import replace

    import torch

    from gnrcnn.data.coco import CocoDataset
    from gnrcnn.data.image_io import read_image
    from gnrcnn.evaluation.evaluate import coco_metrics

    dataset = CocoDataset(ann, root, train=False)
    dataset.raise_if_errors()
    results = []
    with torch.inference_mode():
        for rec in dataset.records:
            inst = detector.predict(read_image(rec.path), color="rgb")[0]
            results += replace(inst, name="").to_coco(image_id=rec.image_id)
    return coco_metrics(ann, results)


def in_process(args: argparse.Namespace) -> dict:
    from gnrcnn import load_model
    from gnrcnn.evaluation.evaluate import evaluate
    from gnrcnn.evaluation.ground_truth import GroundTruth
    from gnrcnn.predict.detector import Detector

    over = harness.DRY_OVERRIDES if args.dry_run else None
    loaded = load_model(harness.DRY_CONFIG if args.dry_run else None, weights=args.weights, overrides=over)
    gt = GroundTruth(args.ann, args.data_root)
    ways = {"old": lambda d: old_evaluate(d, args.ann, args.data_root), "new": lambda d: evaluate(d, gt)}
    aps = {}

    def job(name: str) -> None:
        m = ways[name](Detector(loaded.cfg, loaded.model))  # as Trainer.evaluate lends its model
        aps[name] = (m["bbox"]["AP"], m["segm"]["AP"])

    # the warm-up round also reads the GroundTruth's COCO once
    times = harness.alternate({k: (lambda k=k: job(k)) for k in ways}, args.rounds, warmup=1, log=True)
    res: dict = {k: {"median_s": statistics.median(v), "runs_s": v, "AP": aps[k]} for k, v in times.items()}
    res["new_over_old"] = res["new"]["median_s"] / res["old"]["median_s"]
    return res


def dry_data() -> tuple[str, str]:
    from gnrcnn.data.shapes import make_shapes

    root = harness.scratch_folder()
    return str(make_shapes(root, 1, 2, 64, seed=0)["val"]), root


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag in ("--weights", "--ann", "--data-root"):
        ap.add_argument(flag)
    ap.add_argument("--old")
    ap.add_argument("--new")
    ap.add_argument("--in-process", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--evals", type=int, default=3)
    ap.add_argument("--json")
    harness.add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        (args.ann, args.data_root), args.weights, args.rounds, args.in_process = dry_data(), "none", 1, True
    elif not (args.weights and args.ann and args.data_root):
        ap.error("--weights, --ann and --data-root are required")
    if args.in_process:
        res = in_process(args)
        print(json.dumps(res))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)
        return
    times: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(args.rounds):
        for name in ("old", "new"):
            env = dict(os.environ, PYTHONPATH=getattr(args, name))
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD, args.weights, args.ann, args.data_root, str(args.evals)],
                                 env=env, capture_output=True, text=True, check=True)  # fmt: skip
            got = json.loads(out.stdout.strip().splitlines()[-1])
            times[name] += got
            print(f"round {r} {name}: {', '.join(f'{t:.2f}' for t in got)} s ({time.perf_counter() - start:.0f} s "
                  "with start-up)", flush=True)  # fmt: skip
    res = {k: {"median_s": statistics.median(v), "runs_s": v} for k, v in times.items()}
    res["new_over_old"] = res["new"]["median_s"] / res["old"]["median_s"]
    print(json.dumps(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
