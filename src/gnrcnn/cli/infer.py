"""``gnrcnn predict`` and ``gnrcnn eval``."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import GnrcnnError
from ..output_dir import claim
from . import common

PREDICT_RUN_FILES = ("predictions.jsonl", "predictions.json")
EVAL_RUN_FILES = ("results.json", "metrics.json")


def cmd_predict(args: argparse.Namespace) -> int:
    from ..predict import files as predict

    if args.every < 1:
        raise GnrcnnError("--every must be at least 1")
    if args.tolerance < 0:
        raise GnrcnnError(f"--tolerance {args.tolerance}: give 0 or more pixels")
    claim(args.out, PREDICT_RUN_FILES, resume=args.resume, overwrite=args.overwrite, flag="--out")
    inputs = predict.split_inputs(args.inputs)  # a missing input is one line before the model is built
    detector = common.load_detector(args)  # --tile, --overlap, --tta: the config's predict keys
    opts = predict.PredictOptions(args.score_thr, args.batch_size, args.workers, args.resume, args.every,
                                  not args.no_pictures)  # fmt: skip
    code = predict.run(detector, inputs, args.out, opts)
    if args.labels:
        write_prelabels(detector, args)
    return code


def write_prelabels(detector: Any, args: argparse.Namespace) -> None:
    """``OUT/labels_<format>/``: the images' detections scoring >= --score-thr as the tool's pre-labels."""
    from pathlib import Path

    from ..labels.folder import WHAT_TO_IMPORT, LabelOptions, read_predictions, write_labels
    from ..predict.images import JSONL

    names = dict(zip(detector.cfg.data.category_ids, detector.cfg.data.class_names))
    items = read_predictions(Path(args.out) / JSONL, names, args.score_thr)
    folder = Path(args.out) / f"labels_{args.labels}"
    opts = LabelOptions(args.labels, args.tolerance, args.score_thr)
    target = write_labels(items, folder, list(detector.cfg.data.class_names), opts)
    count = sum(len(img.objects) for _, img in items)
    print(f"pre-labels: {count} objects with score >= {args.score_thr} on {len(items)} image(s), polygons within "
          f"{args.tolerance} px, as {args.labels} -> {target}\nimport: {WHAT_TO_IMPORT[args.labels]}")  # fmt: skip


def cmd_eval(args: argparse.Namespace) -> int:
    from .. import distributed
    from ..evaluation.evaluate import evaluate, format_per_class, format_table, score_results_file

    if args.results:
        metrics: dict[str, Any] = score_results_file(args.results, args.ann, args.per_class, args.evaluator)
    else:
        if args.out:
            claim(args.out, EVAL_RUN_FILES, resume=False, overwrite=args.overwrite, flag="--out")
        args.device = str(distributed.setup(common.device(args.device)))
        try:
            metrics = evaluate(common.load_detector(args), args.ann, args.data_root, args.out, args.per_class,
                               args.evaluator, batch_size=args.batch_size, workers=args.workers)  # fmt: skip
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
    common.add_inference(p)
    p.add_argument("--every", type=int, default=1, metavar="N", help="videos: every Nth frame")
    p.add_argument("--resume", action="store_true", help="skip the images OUT/predictions.jsonl already holds")
    p.add_argument("--no-pictures", action="store_true", help="no PNG per image (the JSON only)")
    p.add_argument("--overwrite", action="store_true", help="start afresh in an --out holding an earlier run's "
                   "predictions (without it, or --resume, such a folder is refused)")  # fmt: skip
    p.add_argument("--labels", choices=["labelme", "cvat", "labelstudio", "yolo", "coco"],
                   help="also write the detections scoring >= --score-thr as this tool's pre-labels, in "
                   "OUT/labels_<format>/ (docs/finetune.md, the labelling loop)")  # fmt: skip
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.5,
        metavar="PX",
        help="--labels: how far a polygon's simplified outline may stray from the mask (default 0.5)",
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("eval", help="COCO box and mask AP of a model on a COCO-format dataset")
    common.add_model(p)
    p.add_argument("--data-root", help="folder the annotation file's file_names are relative to")
    p.add_argument("--ann", required=True, help="COCO instances JSON (the ground truth)")
    p.add_argument("--out", help="folder for results.json and metrics.json")
    p.add_argument("--per-class", action="store_true", help="also AP per class")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run's results in --out (without "
                   "it, such a folder is refused)")  # fmt: skip
    common.add_inference(p)
    p.add_argument("--results", help="score this COCO results file instead of running a model (eval's results.json, "
                   "or predict's predictions.json: file names matched to the ground truth's)")  # fmt: skip
    p.add_argument("--evaluator", choices=["auto", "faster-coco-eval", "pycocotools"], default=None,
                   help="COCOeval used (default: $GNRCNN_EVALUATOR, else faster-coco-eval if installed)")  # fmt: skip
    p.set_defaults(func=cmd_eval)
