"""``gnrcnn import-data``: LabelMe, CVAT, YOLO-seg, VOC or Label Studio -> COCO (and a seeded train/val split)."""

from __future__ import annotations

import argparse


def cmd_import_data(args: argparse.Namespace) -> int:
    from ..data.importers import import_dataset, report

    result = import_dataset(args.src, args.out, args.format, args.split, args.seed, args.images, args.overwrite)
    print(report(result))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-data", help="convert a LabelMe, CVAT, YOLO-seg, Pascal VOC or Label Studio dataset to COCO"
    )
    p.add_argument("src", help="the tool's folder (or CVAT's annotations.xml, or Label Studio's JSON export)")
    p.add_argument("--format", choices=["labelme", "cvat", "yolo", "voc", "labelstudio"],
                   help="default: told by the layout (a .json file: labelstudio)")  # fmt: skip
    p.add_argument("--images", metavar="DIR",
                   help="Label Studio: the folder holding the project's images (default: the export's)")  # fmt: skip
    p.add_argument("--out", required=True, help="folder for annotations.json (train.json + val.json with --split)")
    p.add_argument(
        "--split",
        type=float,
        metavar="FRACTION",
        help="write train.json with this fraction of the images and val.json with the rest (e.g. 0.8)",
    )
    p.add_argument("--seed", type=int, default=0, help="the split's shuffle (default 0)")
    p.add_argument("--overwrite", action="store_true",
                   help="remove an earlier import's annotations.json, train.json, val.json from --out")  # fmt: skip
    p.set_defaults(func=cmd_import_data)
