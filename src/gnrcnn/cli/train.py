"""``gnrcnn train``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..config.schema import BEST_METRICS
from ..errors import GnrcnnError
from . import common

if TYPE_CHECKING:
    from ..config.schema import Config

# command-line flag -> config key it sets
_FLAG_KEYS = (("batch_size", "train.images_per_gpu"), ("seed", "train.seed"), ("num_workers", "train.num_workers"),
              ("accumulate", "train.accumulate"), ("best_metric", "train.best_metric"),
              ("early_stop", "train.early_stop"), ("clip_grad", "train.clip_grad_norm"),
              ("ema", "train.ema_decay"))  # fmt: skip


def eval_every_overrides(text: str) -> list[str]:
    """``"2"`` -> every 2 epochs, ``"500it"`` -> every 500 iterations, ``"0"`` -> only at the end."""
    digits = text[:-2] if text.endswith("it") else text
    if not digits.isdigit():
        raise GnrcnnError(f"--eval-every expects N (epochs) or Nit (iterations), e.g. 1 or 500it; got '{text}'")
    n = int(digits)
    iters = text.endswith("it")
    return [f"train.eval_every_epochs={0 if iters else n}", f"train.eval_every_iters={n if iters else 0}"]


def train_config(args: argparse.Namespace) -> Config:
    from ..config.loader import load_config

    overrides = list(args.overrides)
    if args.scale:
        overrides += [f"input.short={args.scale[0]}", f"input.long={args.scale[1]}"]
    overrides += [f"{key}={getattr(args, flag)}" for flag, key in _FLAG_KEYS if getattr(args, flag) is not None]
    if args.eval_every is not None:
        overrides += eval_every_overrides(args.eval_every)
    if args.keep_empty:
        overrides.append("data.keep_empty_images=true")
    return load_config(args.config, overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from ..evaluation.evaluate import format_table
    from ..train.trainer import TrainArgs, Trainer

    cfg = train_config(args)
    dev = common.device(args.device)
    targs = TrainArgs(
        data_root=args.data_root, ann=args.ann, work_dir=args.work_dir, val_data_root=args.val_data_root,
        val_ann=args.val_ann, weights=args.weights, backbone_weights=args.backbone_weights, resume=args.resume,
        max_iters=args.max_iters, stop_at=args.stop_at, device=dev, amp=args.amp,
    )  # fmt: skip
    trainer = Trainer(cfg, targs)  # joins the process group under torchrun; train() leaves it
    metrics = trainer.train()
    if metrics and trainer.main:
        print(format_table(metrics))
    if trainer.main and (trainer.iteration >= trainer.schedule.total_iters or trainer.tracker.should_stop):
        from ..train.summary import ship_note

        print(ship_note(trainer.work, trainer.cfg, metrics, trainer.iteration, trainer.ipe))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train on a COCO-format dataset (torchrun for several processes)")
    common.add_config(p, required=True)
    p.add_argument("--data-root", required=True, help="folder the annotation file's file_names are relative to")
    p.add_argument("--ann", required=True, help="COCO instances JSON of the training set")
    p.add_argument("--val-data-root", help="image folder of the validation set (default: --data-root)")
    p.add_argument("--val-ann", help="COCO instances JSON of the validation set (evaluated at the end)")
    p.add_argument(
        "--keep-empty",
        action="store_true",
        help="train on images without annotations as negatives (default: they are left out)",
    )
    p.add_argument(
        "--eval-every",
        metavar="N|Nit",
        help="evaluate on --val-ann every N epochs (or N iterations: 500it), keeping best.pth",
    )
    p.add_argument("--best-metric", choices=BEST_METRICS, help="what best.pth maximises (default segm.AP)")
    p.add_argument(
        "--early-stop",
        type=int,
        metavar="PATIENCE",
        help="stop after PATIENCE evaluations without improvement of --best-metric",
    )
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
    p.add_argument("--max-iters", type=int, help="stop after N iterations (lr steps kept as fractions)")
    p.add_argument(
        "--stop-at",
        type=int,
        metavar="ITER",
        help="leave with a checkpoint at this iteration (e.g. a time-limited job); --resume continues",
    )
    p.add_argument("--scale", type=int, nargs=2, metavar=("SHORT", "LONG"), help="resize for training and eval")
    p.add_argument("--batch-size", type=int, help="images per process (default: the config's, 2)")
    p.add_argument("--accumulate", type=int, help="batches per optimizer step (emulates a larger batch)")
    p.add_argument("--seed", type=int)
    p.add_argument("--num-workers", type=int)
    common.add_device(p, "training")
    p.set_defaults(func=cmd_train)
