"""``gnrcnn study norm-vs-batch``: GN vs BN (vs no norm) across images per batch, on the demo's detector;
``gnrcnn study all``: every study, end to end."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from . import common, study_classify, study_detect


def cmd_norm_vs_batch(args: argparse.Namespace) -> int:
    from ..study import norm_vs_batch as study

    keys = ("norms", "batches", "images", "train_images", "val_images", "size", "seed", "iterations")
    return _run_study(study, args, keys)


def _run_study(study: Any, args: argparse.Namespace, keys: tuple[str, ...]) -> int:
    """A detection study's plan (its QUICK or default plan, with the flags given), run, then its table."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    base = study.QUICK if args.quick else study.Plan()
    given = {k: getattr(args, k) for k in keys}
    plan = dataclasses.replace(base, **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()
                                        if v is not None}, overrides=tuple(args.overrides))  # fmt: skip
    study.run(plan, args.out, device=common.device(args.device))
    print(f"\n{args.out}/study.md:\n" + (Path(args.out) / "study.md").read_text(), end="")
    print(f"plot: {args.out}/study.png   runs: {args.out}/runs/   (rerun the same command to continue a stopped study)")
    return 0


def cmd_all(args: argparse.Namespace) -> int:
    from ..study.suite import SuitePlan, run_suite

    record = run_suite(SuitePlan(lanes=args.lanes, threads=args.threads, quick=args.quick), args.out)
    print(f"\n{args.out}/suite.md:\n" + (Path(args.out) / "suite.md").read_text(), end="")
    failed = [name for name, s in record["studies"].items() if s["state"] != "done"]
    if failed:
        print(f"error: {', '.join(failed)} failed: see {args.out}/<study>.log (rerun the same command to continue)")
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="experiments that train many models (see docs/study.md)")
    # Many trainings in one process: freed memory goes back to the system (a process that keeps it grows with
    # every run, as a test worker grew to 13.5 GB and an active-learning study to 10.7 GB).
    p.set_defaults(keep_freed_memory=False)
    studies = p.add_subparsers(dest="study", required=True, metavar="STUDY")
    q = studies.add_parser("norm-vs-batch", help="GN vs BN (vs no norm) at 1-8 images per batch: AP table + plot")
    q.add_argument("--out", default="results/study", help="study folder: data, one work dir per run, table, plot")
    q.add_argument("--norms", nargs="+", help="norms to train (gn bn frozen_bn none; default: gn bn none)")
    q.add_argument("--batches", nargs="+", type=int, help="images per batch (default: 1 2 4 8)")
    q.add_argument("--images", type=int, help="training images seen by every run (default: 800)")
    q.add_argument(
        "--iterations",
        type=int,
        help="the equal-iterations control: this many iterations at every batch "
        "size (batch b sees iterations x b images) instead of the same images seen (default: 0, off)",
    )
    q.add_argument("--train-images", type=int, help="size of the generated training set (default: 400)")
    q.add_argument("--val-images", type=int, help="size of the generated validation set (default: 100)")
    q.add_argument("--size", type=int, help="image side in pixels (default: 160)")
    q.add_argument("--seed", type=int, help="data and training seed (default: 0)")
    add_run_flags(q)
    q.set_defaults(func=cmd_norm_vs_batch)
    a = studies.add_parser("all", help="the four studies end to end, two at a time on one thread each "
                           "(about 2 hours on a 2-core CPU): their tables, plots and wall times")  # fmt: skip
    a.add_argument("--out", default="results/studies", help="suite folder: one study folder and log per study")
    a.add_argument("--lanes", type=int, default=2, help="studies in flight at once (default: 2)")
    a.add_argument("--threads", type=int, default=1, help="torch threads of each study (default: 1)")
    a.add_argument("--quick", action="store_true", help="every study's --quick (the plumbing, CI), not a result")
    a.set_defaults(func=cmd_all)
    study_classify.register(studies)
    register_active_learning(studies)
    study_detect.register(studies)


def cmd_active_learning(args: argparse.Namespace) -> int:
    from ..study import active_learning as study

    return _run_study(study, args, ("signals", "seeds", "pool", "start", "k", "rounds", "iterations"))


def register_active_learning(studies: argparse._SubParsersAction) -> None:
    q = studies.add_parser("active-learning", help="gnrcnn rank's signals against random picks: AP after each "
                           "round of labelling, table + plot")  # fmt: skip
    q.add_argument("--out", default="results/active-learning", help="study folder: data, one work dir per run")
    q.add_argument("--signals", nargs="+", help="signals to compare (random score flip mask; default: all four)")
    q.add_argument("--seeds", nargs="+", type=int, help="seeds of the start set and training (default: 0 1)")
    q.add_argument("--pool", type=int, help="generated images standing for the unlabelled data (default: 60)")
    q.add_argument("--start", type=int, help="images labelled before the first round (default: 12)")
    q.add_argument("--k", type=int, help="images added per round (default: 12)")
    q.add_argument("--rounds", type=int, help="rounds of labelling (default: 3)")
    q.add_argument("--iterations", type=int, help="training iterations of every run (default: 100)")
    add_run_flags(q)
    q.set_defaults(func=cmd_active_learning)


def add_run_flags(q: argparse.ArgumentParser) -> None:
    """The flags every detection study's runs share: --quick, --set, --threads, --device."""
    q.add_argument("--quick", action="store_true", help="a tiny study that checks the plumbing (CI), not a result")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value in every run (repeatable)")  # fmt: skip
    q.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    q.add_argument("--device", default=None)
