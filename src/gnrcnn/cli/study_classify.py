"""``gnrcnn study classify`` and ``gnrcnn study group-sweep``: the GN paper's Figure 1 and Table 3 in miniature."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

FIELDS = ("norms", "batches", "seeds", "train_images", "test_images", "size", "widths", "blocks", "groups", "epochs",
          "base_lr")  # fmt: skip


def cmd_classify(args: argparse.Namespace) -> int:
    import torch

    from ..study import classify

    if args.threads:
        torch.set_num_threads(args.threads)
    quick, full = (classify.QUICK, classify.ClassifyPlan()) if args.study == "classify" else (
        classify.QUICK_SWEEP, classify.SWEEP)  # fmt: skip
    given = {k: getattr(args, k) for k in FIELDS if getattr(args, k) is not None}
    plan = dataclasses.replace(quick if args.quick else full,
                               **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})  # fmt: skip
    classify.run(plan, args.out, args.study)
    print(f"\n{args.out}/study.md:\n" + (Path(args.out) / "study.md").read_text(), end="")
    print(f"plot: {args.out}/study.png   runs: {args.out}/runs/   (rerun the same command to continue a stopped study)")
    return 0


def register(studies: argparse._SubParsersAction) -> None:
    helps = {"classify": ("BN, GN, LN, IN at 32-2 images per batch on generated shape crops: error table + plot "
                          "(the paper's Figure 1)", "bn gn ln in", "32 16 8 4 2", "results/study_classify"),
             "group-sweep": ("GN with 1-32 groups and 1-32 channels per group at 32 images per batch "
                             "(the paper's Table 3)", "gn_g1 .. gn_g32 gn_c32 .. gn_c1", "32",
                             "results/study_groups")}  # fmt: skip
    for name, (text, norms, batches, out) in helps.items():
        q = studies.add_parser(name, help=text)
        q.add_argument("--out", default=out, help="study folder: data, one record per run, table, plot")
        q.add_argument("--norms", nargs="+", help=f"bn gn ln in gn_g<G> gn_c<channels> (default: {norms})")
        q.add_argument("--batches", nargs="+", type=int, help=f"images per batch (default: {batches})")
        q.add_argument("--seeds", nargs="+", type=int, help="training seeds (default: 0 1)")
        q.add_argument("--train-images", type=int, help="size of the generated training set (default: 2500)")
        q.add_argument("--test-images", type=int, help="size of the generated test set (default: 2000)")
        q.add_argument("--size", type=int, help="image side in pixels (default: 24)")
        q.add_argument("--widths", nargs="+", type=int, help="channels per stage (default: 32 64 128)")
        q.add_argument("--blocks", nargs="+", type=int, help="residual blocks per stage (default: 1 1 1)")
        q.add_argument("--groups", type=int, help="G of plain gn, capped at a layer's channels (default: 32)")
        q.add_argument("--epochs", type=int, help="epochs, the same at every batch size (default: 10)")
        q.add_argument("--base-lr", type=float, help="lr at 32 images per batch, scaled linearly (default: 0.1)")
        q.add_argument("--threads", type=int, help="torch threads (default: torch's)")
        q.add_argument("--quick", action="store_true", help="a tiny study that checks the plumbing (CI), not a result")
        q.set_defaults(func=cmd_classify)
