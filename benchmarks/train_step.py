"""Seconds per training iteration and peak memory: a config on 2 images of 800x1333, CPU or CUDA.

    python benchmarks/train_step.py [--config NAME] [--device cpu|cuda] [--iters 3] [--amp bf16|fp16] [--threads T]

Each iteration is forward + backward + SGD step on a synthetic batch (the bundled photo stretched
to 800x1333 with 8 random boxes and elliptical masks per image), after one warm-up iteration, in a
fresh process. Peak memory is that process's peak RSS on the CPU, ``torch.cuda.max_memory_allocated``
on a GPU. (The same measurement as ``gnrcnn bench``'s training line.)
"""

from __future__ import annotations

import argparse

import torch

from gnrcnn import load_config
from gnrcnn.tools.bench import report, to_json, training_speed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="mask-rcnn_r50_fpn_gn-all_2x_coco")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--amp", choices=["bf16", "fp16"])
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train = training_speed(load_config(args.config), args.device, args.amp, args.iters)
    print(report(args.config, args.device, args.amp, None, train))
    print(to_json(args.config, args.device, args.amp, None, train))


if __name__ == "__main__":
    main()
