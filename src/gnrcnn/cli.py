"""The ``gnrcnn`` command: one sub-command per job; user errors are one line, no traceback."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .engine.allocator import keep_freed_memory
from .errors import GnrcnnError, read_input_file

if TYPE_CHECKING:
    from .config import Config
    from .engine.predictor import Detector


def _add_model_args(p: argparse.ArgumentParser, weights_required: bool = False) -> None:
    p.add_argument("--config", help="config name (see `gnrcnn zoo`) or a YAML file")
    p.add_argument("--weights", required=weights_required, help="checkpoint: gnrcnn, MMDetection, ... (by content)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable)")  # fmt: skip
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--amp", choices=["bf16", "fp16"], default=None, help="reduced-precision inference")
    p.add_argument("--compile", action="store_true", help="torch.compile the backbone, FPN and heads")
    p.add_argument("--tf32", action="store_true", help="allow TF32 on NVIDIA GPUs (faster, not exact fp32)")


def _device(name: str | None) -> str:
    import torch

    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise GnrcnnError(f"--device {name}: CUDA is not available on this machine")
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def _load(args: argparse.Namespace) -> Detector:
    from .api import load_model

    if not args.config and not args.weights:
        raise GnrcnnError("give --config NAME (and --weights PATH), or --weights of a gnrcnn checkpoint")
    if not args.weights:
        print("warning: no --weights given: the model is randomly initialised", file=sys.stderr)
    return load_model(args.config, args.weights, _device(args.device), args.overrides, args.amp, args.compile,
                      args.tf32)  # fmt: skip


def cmd_zoo(args: argparse.Namespace) -> int:
    from . import zoo

    print(zoo.table())
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .engine import predict

    return predict.run(_load(args), args.inputs, args.out, args.score_thr)


def cmd_convert(args: argparse.Namespace) -> int:
    from .engine.convert import convert

    print(convert(args.input, args.output, args.config, args.overrides))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .engine import demo

    demo.run(args.out, quick=args.quick, device=_device(args.device))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from .engine import distributed
    from .engine.evaluate import coco_metrics, evaluate, format_table

    if args.results:
        try:
            results = json.loads(read_input_file(args.results, "results"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GnrcnnError(f"{args.results}: not a JSON results file") from None
        metrics = coco_metrics(args.ann, results, per_class=args.per_class)
    else:
        args.device = str(distributed.setup(_device(args.device)))
        try:
            metrics = evaluate(_load(args), args.ann, args.data_root, args.out, args.per_class)
        finally:
            distributed.cleanup()
    if metrics:
        print(format_table(metrics))
        if args.per_class:
            print(format_per_class(metrics))
    return 0


def format_per_class(metrics: dict) -> str:
    names = list(metrics["bbox"]["per_class"])
    width = max(len(n) for n in names)
    rows = [f"{'class':<{width}}  box AP  mask AP"]
    for n in names:
        rows.append(f"{n:<{width}}  {metrics['bbox']['per_class'][n]:6.3f}  {metrics['segm']['per_class'][n]:7.3f}")
    return "\n".join(rows)


def cmd_check_data(args: argparse.Namespace) -> int:
    from .data.check import report

    text, code = report(args.ann, args.data_root, decode=not args.no_decode)
    print(text)
    return code


def cmd_make_shapes(args: argparse.Namespace) -> int:
    from .data.shapes import make_shapes

    paths = make_shapes(args.out, args.train, args.val, args.size, args.seed)
    print(f"wrote {args.train} train + {args.val} val images to {args.out}/; annotations: "
          f"{paths['train']}, {paths['val']} (file names relative to {args.out})")  # fmt: skip
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    import torch

    from .engine import bench

    if args.threads:
        torch.set_num_threads(args.threads)
    det = _load(args)
    inf = bench.inference_speed(det, args.runs) if not args.no_inference else None
    train = bench.training_speed(det.cfg, str(det.device), args.amp, args.train_iters) if not args.no_train else None
    print(bench.report(det.cfg.name, str(det.device), args.amp, inf, train))
    out = bench.to_json(det.cfg.name, str(det.device), args.amp, inf, train)
    if args.json:
        with open(args.json, "w") as f:
            f.write(out + "\n")
    else:
        print(out)
    json.loads(out)
    return 0


def _train_config(args: argparse.Namespace) -> Config:
    from .config import load_config

    overrides = list(args.overrides)
    if args.scale:
        overrides += [f"input.short={args.scale[0]}", f"input.long={args.scale[1]}"]
    for flag, key in (("batch_size", "train.images_per_gpu"), ("seed", "train.seed"),
                      ("num_workers", "train.num_workers"), ("accumulate", "train.accumulate")):  # fmt: skip
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    return load_config(args.config, overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from .engine import distributed
    from .engine.evaluate import format_table
    from .engine.trainer import TrainArgs, Trainer

    cfg = _train_config(args)
    targs = TrainArgs(args.data_root, args.ann, args.work_dir, args.val_data_root, args.val_ann, args.weights,
                      args.backbone_weights, args.resume, args.max_iters, args.stop_at, _device(args.device),
                      args.amp)  # fmt: skip
    try:
        metrics = Trainer(cfg, targs).train()
        if metrics and distributed.is_main():
            print(format_table(metrics))
    finally:
        distributed.cleanup()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="gnrcnn", description="Mask R-CNN with Group Normalization")
    parser.add_argument("--version", action="version", version=f"gnrcnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("zoo", help="the published models: AP, memory, speed, checkpoints")
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser("predict", help="detect and segment objects in images")
    _add_model_args(p)
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    p.add_argument("--out", required=True, help="folder for predictions.json and the pictures")
    p.add_argument("--score-thr", type=float, default=0.3, help="minimum score drawn (the JSON keeps all)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("train", help="train on a COCO-format dataset (torchrun for several processes)")
    p.add_argument("--config", required=True, help="config name (see `gnrcnn zoo`) or a YAML file")
    p.add_argument("--data-root", required=True, help="folder the annotation file's file_names are relative to")
    p.add_argument("--ann", required=True, help="COCO instances JSON of the training set")
    p.add_argument("--val-data-root", help="image folder of the validation set (default: --data-root)")
    p.add_argument("--val-ann", help="COCO instances JSON of the validation set (evaluated at the end)")
    p.add_argument("--weights", help="start from this detection checkpoint (fine-tuning)")
    p.add_argument("--backbone-weights", help="start from this ImageNet backbone (the published recipe)")
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
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda if available)")
    p.add_argument("--amp", choices=["bf16", "fp16"], default=None, help="mixed precision (fp16: CUDA only)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="COCO box and mask AP of a model on a COCO-format dataset")
    _add_model_args(p)
    p.add_argument("--data-root", help="folder the annotation file's file_names are relative to")
    p.add_argument("--ann", required=True, help="COCO instances JSON (the ground truth)")
    p.add_argument("--out", help="folder for results.json and metrics.json")
    p.add_argument("--per-class", action="store_true", help="also AP per class")
    p.add_argument("--results", help="score this COCO results JSON instead of running a model")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("check-data", help="list every problem of a COCO-format dataset (exit 1 if any)")
    p.add_argument("--data-root", required=True, help="folder the annotation file's file_names are relative to")
    p.add_argument("--ann", required=True, help="COCO instances JSON")
    p.add_argument("--no-decode", action="store_true", help="skip the full decode of every image")
    p.set_defaults(func=cmd_check_data)

    p = sub.add_parser("make-shapes", help="write a generated COCO-format dataset of coloured shapes")
    p.add_argument("--out", required=True)
    p.add_argument("--train", type=int, default=400)
    p.add_argument("--val", type=int, default=50)
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_make_shapes)

    p = sub.add_parser("bench", help="inference img/s and training s/iter + peak memory")
    _add_model_args(p)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--runs", type=int, default=5, help="timed inference runs (median reported)")
    p.add_argument("--train-iters", type=int, default=3, help="timed training iterations (median reported)")
    p.add_argument("--no-train", action="store_true")
    p.add_argument("--no-inference", action="store_true")
    p.add_argument("--json", help="write the JSON result here (default: print it)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="the end-to-end demo (what `make demo` runs)")
    p.add_argument("--out", default="results/demo")
    p.add_argument("--quick", action="store_true", help="a reduced run (small images, few iterations)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("convert", help="write any supported checkpoint in gnrcnn's format")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--config", help="config the weights belong to (default: the zoo entry matching the file)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.set_defaults(func=cmd_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    try:
        return int(args.func(args) or 0)
    except GnrcnnError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
