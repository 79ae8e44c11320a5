"""``gnrcnn export``: a model -> one ONNX file that onnxruntime runs with the same detections, or (``--format
hub``) a folder to upload to the Hugging Face Hub."""

from __future__ import annotations

import argparse
import sys

from ..errors import GnrcnnError
from . import common


def cmd_export(args: argparse.Namespace) -> int:
    from ..api import load_model
    from ..export.onnx import OPSET, export_model, save_model

    if args.format == "hub":
        return _export_hub(args)
    if not args.out.lower().endswith(".onnx"):
        raise GnrcnnError(f"--out {args.out}: the file name must end in .onnx (that is how gnrcnn tells it apart)")
    if not args.weights:
        print("warning: no --weights given: the exported model is randomly initialised", file=sys.stderr)
    det = load_model(args.config, args.weights, "cpu", args.overrides)
    print(f"exporting {det.cfg.name or 'the model'}: tracing, then a check in onnxruntime (a minute or two on 2 cores)",
          file=sys.stderr, flush=True)  # fmt: skip
    result = export_model(det.cfg, det.model, opset=args.opset or OPSET)
    size = save_model(result.proto, args.out)
    print(f"{args.out}: {size / 2**20:.1f} MB, opset {args.opset or OPSET}, {len(result.op_types)} standard operator "
          f"types, exported in {result.seconds:.1f} s; check: {result.check}")  # fmt: skip
    print(f"run it: gnrcnn predict --weights {args.out} IMAGES --out DIR   (docs/deploy.md: without gnrcnn)")
    return 0


def _export_hub(args: argparse.Namespace) -> int:
    from ..api import load_model
    from ..export.hub_folder import write_hub_folder

    if not args.weights:
        raise GnrcnnError("export --format hub: give --weights (the trained model, e.g. work_dirs/x/model_final.pth)")
    det = load_model(args.config, args.weights, "cpu", args.overrides)
    files = write_hub_folder(det.cfg, det.model, args.out, args.weights)
    print(f"{args.out}: {', '.join(f.name for f in files)}; upload it with: "
          f"hf upload OWNER/REPO {args.out} .   (docs/weights.md)")  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a model -> one ONNX file (standard operators, onnxruntime) or a Hub folder")
    common.add_config(p)
    p.add_argument("--weights", help="checkpoint: gnrcnn, MMDetection, ... (by content)")
    p.add_argument("--format", choices=["onnx", "hub"], default="onnx",
                   help="onnx: one .onnx file; hub: a Hugging Face Hub folder (weights, model card)")  # fmt: skip
    p.add_argument("--out", required=True, help="the .onnx file to write (--format hub: the folder)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17; RoiAlign needs >= 16)")
    p.set_defaults(func=cmd_export)
