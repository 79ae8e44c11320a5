"""``gnrcnn study detect-pretrained``: BN* vs GN in detection with backbones pretrained on shape crops."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from . import common


def cmd_detect_pretrained(args: argparse.Namespace) -> int:
    import torch

    from ..study import detect_pretrained as study

    if args.threads:
        torch.set_num_threads(args.threads)
    plan = study.QUICK if args.quick else study.DetectPretrainedPlan()
    pretrain = {k: v for k, v in (("epochs", args.pretrain_epochs), ("train_images", args.pretrain_images)) if v}
    detect = {k: v for k, v in (("images", args.images), ("seed", args.data_seed)) if v is not None}
    top = {k: tuple(v) if isinstance(v, list) else v for k, v in (("variants", args.variants), ("seeds", args.seeds),
           ("base_lr", args.base_lr), ("depth", args.depth)) if v is not None}  # fmt: skip
    plan = dataclasses.replace(plan, pretrain=dataclasses.replace(plan.pretrain, **pretrain),
                               detect=dataclasses.replace(plan.detect, **detect), **top)  # fmt: skip
    study.run(plan, args.out, device=common.device(args.device))
    print(f"\n{args.out}/study.md:\n" + (Path(args.out) / "study.md").read_text(), end="")
    print(f"plot: {args.out}/study.png   backbones: {args.out}/backbones/   runs: {args.out}/runs/   "
          "(rerun the same command to continue a stopped study)")  # fmt: skip
    return 0


def register(studies: argparse._SubParsersAction) -> None:
    text = (
        "BN* vs GN backbone vs GN-all, fine-tuning the demo's detector from backbones pretrained on shape "
        "crops: AP table + plot (the paper's detection table)"
    )
    q = studies.add_parser("detect-pretrained", help=text)
    q.add_argument("--out", default="results/study_detect", help="study folder: data, backbones, runs, table, plot")
    q.add_argument("--variants", nargs="+", help="bn_star gn_backbone gn_all gn_all_scratch (default: the first 3)")
    q.add_argument("--seeds", nargs="+", type=int, help="detection seeds (default: 0 1)")
    q.add_argument("--images", type=int, help="training images seen by each detection run (default: 600)")
    q.add_argument("--base-lr", type=float, help="fine-tuning lr at 16 images, scaled linearly (default: 0.08)")
    q.add_argument("--depth", type=int, choices=(18, 34), help="backbone depth (default: 18, the demo's)")
    q.add_argument("--pretrain-epochs", type=int, help="pretraining epochs (default: 10)")
    q.add_argument("--pretrain-images", type=int, help="pretraining shape crops (default: 2500)")
    q.add_argument("--data-seed", type=int, help="seed of the detection data set (default: 0)")
    q.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    q.add_argument("--quick", action="store_true", help="a tiny study that checks the plumbing (CI), not a result")
    q.add_argument("--device", default=None)
    q.set_defaults(func=cmd_detect_pretrained)
