"""``gnrcnn train``."""

from __future__ import annotations

import argparse

from ..config.schema import BEST_METRICS
from ..train.options import eval_every_overrides
from . import common

__all__ = ["eval_every_overrides", "register"]  # eval_every_overrides: where the flag's meaning lives


def cmd_train(args: argparse.Namespace) -> int:
    """A thin caller of ``gnrcnn.train_model``: the flags by name, then the final table and which file to ship."""
    from ..api import train_model
    from ..evaluation.evaluate import format_table
    from ..train.options import CONFIG_OPTIONS
    from ..train.summary import ship_note

    options = {name: getattr(args, name) for name in CONFIG_OPTIONS}
    result = train_model(
        args.config, data_root=args.data_root, ann=args.ann, work_dir=args.work_dir, val_ann=args.val_ann,
        val_data_root=args.val_data_root, weights=args.weights, backbone_weights=args.backbone_weights,
        overrides=args.overrides, resume=args.resume, overwrite=args.overwrite, max_iters=args.max_iters,
        stop_at=args.stop_at, device=common.device(args.device), amp=args.amp, eval_every=args.eval_every,
        scale=args.scale, **options,
    )  # fmt: skip
    if result.main and result.metrics:
        print(format_table(result.metrics))
    if result.main and result.outcome == "finished":
        print(ship_note(result.work_dir, result.config, result.metrics, result.iteration, result.iters_per_epoch))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train on a COCO-format dataset (torchrun for several processes)")
    common.add_config(p, required=True)
    p.add_argument("--data-root", required=True, help="folder the annotation file's file_names are relative to")
    p.add_argument("--ann", required=True, help="COCO instances JSON of the training set")
    p.add_argument("--val-data-root", help="image folder of the validation set (default: --data-root)")
    p.add_argument("--val-ann", help="COCO instances JSON of the validation set (evaluated at the end)")
    p.add_argument("--keep-empty", action="store_true",
                   help="train on images without annotations as negatives (default: they are left out)")  # fmt: skip
    p.add_argument("--eval-every", metavar="N|Nit",
                   help="evaluate on --val-ann every N epochs (or N iterations: 500it), keeping best.pth")  # fmt: skip
    p.add_argument("--best-metric", choices=BEST_METRICS, help="what best.pth maximises (default segm.AP)")
    p.add_argument("--early-stop", type=int, metavar="PATIENCE",
                   help="stop after PATIENCE evaluations without improvement of --best-metric")  # fmt: skip
    p.add_argument("--clip-grad", type=float, metavar="NORM", help="clip gradients to this total L2 norm")
    p.add_argument("--ema", type=float, metavar="DECAY",
                   help="keep an EMA of the weights (e.g. 0.999), evaluated and saved as the result")  # fmt: skip
    p.add_argument("--weights", help="start from this detection checkpoint (fine-tuning): a file, an http(s) URL or "
                   "a zoo name; layers of other classes are re-initialised")  # fmt: skip
    p.add_argument("--backbone-weights", help="start from this ImageNet backbone: a file, URL or name such as "
                   "open-mmlab://detectron/resnet50_gn; default: a zoo config's published one (else none); "
                   "'none': from scratch")  # fmt: skip
    p.add_argument("--work-dir", required=True, help="checkpoints, logs, loss curve, metrics")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue from the latest good checkpoint in --work-dir (or the one given)")  # fmt: skip
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="clear an earlier run's files from --work-dir first (without it, such a folder is refused)",
    )
    p.add_argument("--max-iters", type=int, help="stop after N iterations (lr steps kept as fractions)")
    p.add_argument("--stop-at", type=int, metavar="ITER", help="leave with a checkpoint at this iteration "
                   "(e.g. a time-limited job); --resume continues")  # fmt: skip
    p.add_argument("--scale", type=int, nargs=2, metavar=("SHORT", "LONG"), help="resize for training and eval")
    p.add_argument("--batch-size", type=int, help="images per process (default: the config's, 2)")
    p.add_argument("--accumulate", type=int, help="batches per optimizer step (emulates a larger batch)")
    p.add_argument("--seed", type=int)
    p.add_argument("--num-workers", type=int)
    p.add_argument("--mlflow", metavar="URI", help="track the run in MLflow at this tracking URI, e.g. "
                   "http://127.0.0.1:5000 (pip install gnrcnn[mlflow]; train.mlflow_uri)")  # fmt: skip
    common.add_device(p, "training")
    p.set_defaults(func=cmd_train)
