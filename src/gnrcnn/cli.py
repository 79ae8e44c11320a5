"""The ``gnrcnn`` command: one sub-command per job; user errors are one line, no traceback."""

from __future__ import annotations

import argparse
import sys

from .errors import GnrcnnError


def _add_model_args(p: argparse.ArgumentParser, weights_required: bool = False) -> None:
    p.add_argument("--config", help="config name (see `gnrcnn zoo`) or a YAML file")
    p.add_argument("--weights", required=weights_required, help="checkpoint: gnrcnn, MMDetection, ... (by content)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable)")  # fmt: skip
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--amp", choices=["bf16", "fp16"], default=None, help="reduced-precision inference")


def _device(name: str | None) -> str:
    import torch

    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise GnrcnnError(f"--device {name}: CUDA is not available on this machine")
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def _load(args: argparse.Namespace):
    from .api import load_model

    if not args.config and not args.weights:
        raise GnrcnnError("give --config NAME (and --weights PATH), or --weights of a gnrcnn checkpoint")
    if not args.weights:
        print("warning: no --weights given: the model is randomly initialised", file=sys.stderr)
    return load_model(args.config, args.weights, _device(args.device), args.overrides, args.amp)


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
    from importlib import resources

    from .api import load_model
    from .engine import predict

    # Until training lands, the most end-to-end thing there is: a randomly initialised R-50 GN model
    # run on the bundled photo at the full test scale.
    print("demo: predicting with a RANDOMLY INITIALISED mask-rcnn_r50_fpn_gn-all_2x_coco (no training yet)")
    photo = str(resources.files("gnrcnn") / "assets" / "chelsea.png")
    return predict.run(load_model("mask-rcnn_r50_fpn_gn-all_2x_coco"), [photo], args.out, 0.05)


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

    p = sub.add_parser("demo", help="the end-to-end demo (what `make demo` runs)")
    p.add_argument("--out", default="results/demo")
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
