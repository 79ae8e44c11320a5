"""``gnrcnn predict`` and ``gnrcnn eval``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import GnrcnnError, read_input_file
from . import common


def cmd_predict(args: argparse.Namespace) -> int:
    from ..engine import predict

    return predict.run(common.load_detector(args), args.inputs, args.out, args.score_thr)


def cmd_eval(args: argparse.Namespace) -> int:
    from ..engine import distributed
    from ..engine.evaluate import coco_metrics, evaluate, format_per_class, format_table

    if args.results:
        try:
            results = json.loads(read_input_file(args.results, "results"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GnrcnnError(f"{args.results}: not a JSON results file") from None
        metrics: dict[str, Any] = coco_metrics(args.ann, results, per_class=args.per_class, evaluator=args.evaluator)
    else:
        args.device = str(distributed.setup(common.device(args.device)))
        try:
            metrics = evaluate(common.load_detector(args), args.ann, args.data_root, args.out, args.per_class,
                               args.evaluator)  # fmt: skip
        finally:
            distributed.cleanup()
    if metrics:
        print(format_table(metrics))
        if args.per_class:
            print(format_per_class(metrics))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="detect and segment objects in images")
    common.add_model(p)
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    p.add_argument("--out", required=True, help="folder for predictions.json and the pictures")
    p.add_argument("--score-thr", type=float, default=0.3, help="minimum score drawn (the JSON keeps all)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("eval", help="COCO box and mask AP of a model on a COCO-format dataset")
    common.add_model(p)
    p.add_argument("--data-root", help="folder the annotation file's file_names are relative to")
    p.add_argument("--ann", required=True, help="COCO instances JSON (the ground truth)")
    p.add_argument("--out", help="folder for results.json and metrics.json")
    p.add_argument("--per-class", action="store_true", help="also AP per class")
    p.add_argument("--results", help="score this COCO results JSON instead of running a model")
    p.add_argument("--evaluator", choices=["auto", "faster-coco-eval", "pycocotools"], default=None,
                   help="COCOeval used (default: $GNRCNN_EVALUATOR, else faster-coco-eval if installed)")  # fmt: skip
    p.set_defaults(func=cmd_eval)
