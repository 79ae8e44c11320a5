"""Seconds per training iteration and peak memory: the r50 (or any) config, 2 images at 800x1333.

    python benchmarks/train_step.py [--config NAME] [--device cpu|cuda] [--iters 3] [--amp bf16|fp16]

Each iteration is forward + backward + SGD step on a synthetic batch (the bundled photo with random
boxes and masks). Prints a table line and one JSON line. Peak memory is the process's peak RSS on
the CPU, ``torch.cuda.max_memory_allocated`` on a GPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import batch, normalized  # noqa: E402

from gnrcnn import build_model, load_config  # noqa: E402
from gnrcnn.engine.predictor import autocast  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="mask-rcnn_r50_fpn_gn-all_2x_coco")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--amp", choices=["bf16", "fp16"])
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = load_config(args.config)
    model = build_model(cfg).to(device).train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda") if args.amp == "fp16" else None
    images, sizes, targets = batch(args.images, num_classes=cfg.num_classes)
    x, sizes, targets = normalized(images, sizes, cfg, device), sizes.to(device), targets.to(device)
    times = []
    for i in range(args.iters + 1):  # the first is warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with autocast(device, args.amp):
            loss = sum(model(x, sizes, targets).values())
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    med = statistics.median(times)
    print(f"{args.config} train step, {args.images} x {tuple(x.shape[-2:])}, {device}, amp={args.amp}, "
          f"threads={torch.get_num_threads()}: {med:.2f} s/iter (runs {[round(t, 2) for t in times]}), "
          f"peak memory {peak:.2f} GB")  # fmt: skip
    print(json.dumps({"config": args.config, "device": str(device), "amp": args.amp, "s_per_iter": med,
                      "runs": times, "peak_gb": peak, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))  # fmt: skip


if __name__ == "__main__":
    main()
