"""What GN costs against BN (and no norm) on the same model, and what each run of the norm study costs.

    python benchmarks/norm_cost.py [--norms gn bn none] [--batches 1 2 4 8] [--size 160] [--iters 6]
                                   [--inference-runs 10] [--threads 2] [--json out.json] [--dry-run]

The model is the study's (``gnrcnn study norm-vs-batch``: the demo recipe, ResNet-18 + FPN + heads,
``study.run_config``) with each norm in the backbone, FPN and heads. Training: the trainer's own step
(``tools/bench.train_step``: forward + backward + SGD step) on a synthetic batch (size x size, 6
random boxes and masks per image); inference: one shapes image (train mode off, BN with running
statistics). The norms are measured in alternating rounds (``tools/harness.py``: one iteration of
each in turn), so a change in the machine's load hits all of them alike; the medians are printed as
wall seconds and as CPU seconds of this process (user + system), the latter less disturbed by other
processes on a shared machine.

The last tables estimate each study run: images x training s/image at that batch + the validation
set x inference s/image + half a minute per run (model build, checkpoints, loss plot). On a busy
machine the wall times are inflated by the other processes (and the CPU times too: waiting OpenMP
threads spin), so each round also times the demo's own training step ("demo": 224 px, 4 images,
GN), and the second estimate scales the ratios to it by the demo's documented quiet speed
(``--demo-s-per-iter``, 1.2 s on the slower CI machine, docs/demo.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from gnrcnn.build import build_model
from gnrcnn.config.loader import load_config
from gnrcnn.data.shapes import make_split
from gnrcnn.predict.detector import Detector
from gnrcnn.study import norm_vs_batch as study
from gnrcnn.tools.bench import train_step
from gnrcnn.tools.harness import DRY_OVERRIDES, add_dry_run, alternate_clocks

DRY_DEMO = [*DRY_OVERRIDES, "train.images_per_gpu=1"]


def train_steps(norms: list[str], batch: int, size: int, demo: list[str] | None = None) -> dict:
    """norm -> one training step of the study's model with that norm (and "demo": the demo's own step,
    its config with the ``demo`` overrides)."""
    plan = study.Plan(size=size)
    out = {}
    for norm in [*norms, "demo"]:
        torch.manual_seed(0)
        cfg = load_config(study.CONFIG, demo) if norm == "demo" else study.run_config(plan, norm, batch)
        out[norm] = train_step(cfg, images=cfg.train.images_per_gpu, boxes=6)[0]
    return out


def medians(fns: dict, runs: int, warmup: int = 1) -> dict[str, tuple[float, float]]:
    """Median (wall s, CPU s) per call of each function, in alternating rounds."""
    wall, cpu = alternate_clocks(fns, runs, warmup)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def inference(norms: list[str], size: int, runs: int, tmp: Path) -> dict[str, tuple[float, float]]:
    import numpy as np

    from gnrcnn.data.image_io import read_image

    data = make_split(tmp, "val", 1, size, 0)
    image = read_image(tmp / data["images"][0]["file_name"])
    dets = {}
    for norm in norms:
        torch.manual_seed(0)
        cfg = study.run_config(study.Plan(size=size), norm, 2)
        dets[norm] = Detector(cfg, build_model(cfg).eval(), owns_model=True)
    image = np.ascontiguousarray(image)
    return medians({n: (lambda d=d: d.predict(image, color="rgb")) for n, d in dets.items()}, runs, 2)


def estimate(res: dict, norms: list[str], batches: list[int], size: int, inf: dict, scale: float | None,
             how: str) -> None:  # fmt: skip
    """Wall minutes per study run and in all; ``scale`` None: each batch's ratio to the demo step."""
    plan = study.Plan(size=size)
    print(f"\nestimated minutes per study run, {how} ({plan.images} training images, {plan.val_images} validation "
          f"images, + 0.5 min):")  # fmt: skip
    print("| norm | " + " | ".join(f"batch {b}" for b in batches) + " |")
    total = 0.0
    for n in norms:
        est = []
        for b in batches:
            s = scale if scale is not None else res["train"]["demo"][b]["scale"]
            est.append((plan.images * res["train"][n][b]["wall_s_per_img"] * s + plan.val_images * inf[n][0] * s
                        + 30) / 60)  # fmt: skip
        total += sum(est)
        print(f"| {n} | " + " | ".join(f"{e:.1f}" for e in est) + " |")
    print(f"whole study: {total:.0f} minutes")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--norms", nargs="+", default=["gn", "bn", "none"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 2, 4, 8])
    ap.add_argument("--size", type=int, default=study.Plan().size)
    ap.add_argument("--iters", type=int, default=6, help="timed training iterations per norm and batch")
    ap.add_argument("--inference-runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--demo-s-per-iter", type=float, default=1.2, help="the demo's quiet s/iteration (docs/demo.md)")
    ap.add_argument("--json")
    add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        args.norms, args.batches, args.size, args.iters, args.inference_runs = ["gn"], [1], 64, 1, 1
    torch.set_num_threads(args.threads)
    res: dict = {"threads": args.threads, "size": args.size, "train": {}, "inference": {}}
    print(f"norm cost: study model at {args.size} px, {args.threads} threads, torch {torch.__version__}")
    print("\ntraining, seconds per image (wall / CPU), median of", args.iters)
    print("| norm | " + " | ".join(f"batch {b}" for b in args.batches) + " |")
    rows: dict[str, list[str]] = {n: [] for n in [*args.norms, "demo"]}
    for b in args.batches:
        models = train_steps(args.norms, b, args.size, DRY_DEMO if args.dry_run else None)
        t = medians(models, args.iters)
        for n in [*args.norms, "demo"]:
            per = 4 if n == "demo" else b
            res["train"].setdefault(n, {})[b] = {"wall_s_per_img": t[n][0] / per, "cpu_s_per_img": t[n][1] / per}
            rows[n].append(f"{t[n][0] / per:.3f} / {t[n][1] / per:.3f}")
        del models
    for n in [*args.norms, "demo"]:
        print(f"| {n} | " + " | ".join(rows[n]) + " |")
    with tempfile.TemporaryDirectory() as tmp:
        inf = inference(args.norms, args.size, args.inference_runs, Path(tmp))
    shown = ", ".join(f"{n} {w:.3f} / {c:.3f}" for n, (w, c) in inf.items())
    print(f"\ninference, seconds per image (wall / CPU), median of {args.inference_runs}: {shown}")
    res["inference"] = {n: {"wall_s_per_img": w, "cpu_s_per_img": c} for n, (w, c) in inf.items()}
    estimate(res, args.norms, args.batches, args.size, inf, 1.0, "from this machine's wall times")
    for b in args.batches:  # each round's own demo step: the load of that moment
        res["train"]["demo"][b]["scale"] = args.demo_s_per_iter / 4 / res["train"]["demo"][b]["wall_s_per_img"]
    estimate(res, args.norms, args.batches, args.size, inf, None,
             f"scaled to the demo's {args.demo_s_per_iter} s/iteration")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
