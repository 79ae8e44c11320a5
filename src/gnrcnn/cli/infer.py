"""``gnrcnn predict`` and ``gnrcnn eval``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import GnrcnnError, read_input_file
from . import common


def cmd_predict(args: argparse.Namespace) -> int:
    import dataclasses

    from ..config.loader import check_predict
    from ..predict import files as predict

    if args.batch_size < 1 or args.workers < 0 or args.every < 1:
        raise GnrcnnError("--batch-size and --every must be at least 1, --workers at least 0")
    detector = common.load_detector(args)
    tiling = detector.cfg.predict
    if args.tile is not None:
        tiling = dataclasses.replace(tiling, tile=args.tile)
    if args.overlap is not None:
        tiling = dataclasses.replace(tiling, tile_overlap=args.overlap)
    check_predict(tiling, flags=True)
    opts = predict.PredictOptions(args.score_thr, args.batch_size, args.workers, args.resume, args.every,
                                  not args.no_pictures, tiling)  # fmt: skip
    return predict.run(detector, args.inputs, args.out, opts)


def cmd_eval(args: argparse.Namespace) -> int:
    from .. import distributed
    from ..evaluation.evaluate import coco_metrics, evaluate, format_per_class, format_table

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
    p = sub.add_parser("predict", help="detect and segment objects in images, folders and videos")
    common.add_model(p)
    p.add_argument("inputs", nargs="+", metavar="IMAGE_DIR_OR_VIDEO")
    p.add_argument("--out", required=True, help="folder for predictions.json(l), the pictures and annotated videos")
    p.add_argument("--score-thr", type=float, default=0.5, help="minimum score drawn (the JSON keeps all)")
    p.add_argument("--tile", type=int, metavar="SIZE",
                   help="cut images into SIZE x SIZE tiles at native resolution (0: off; predict.tile)")  # fmt: skip
    p.add_argument("--overlap", type=float, metavar="FRACTION",
                   help="tiles overlap by at least this fraction of a tile (predict.tile_overlap: 0.2)")  # fmt: skip
    p.add_argument("--every", type=int, default=1, metavar="N", help="videos: every Nth frame")
    p.add_argument("--resume", action="store_true", help="skip the images OUT/predictions.jsonl already holds")
    p.add_argument("--batch-size", type=int, default=1, help="images or frames per model call (1: exact)")
    p.add_argument("--workers", type=int, default=2,
                   help="decoding threads ahead of the model (0: no prefetching, no writer thread)")  # fmt: skip
    p.add_argument("--no-pictures", action="store_true", help="no PNG per image (the JSON only)")
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
