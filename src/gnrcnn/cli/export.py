"""``gnrcnn export``: a model -> one ONNX file that onnxruntime runs with the same detections, an OpenVINO
model (model.xml + model.bin) in fp32 or INT8, or (``--format hub``) a folder to upload to the Hugging Face Hub."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import GnrcnnError
from . import common


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    """(config, MaskRCNN) through ``build.load``, as every model is made: no --weights means the config's
    published checkpoint (fetched), ``none`` a randomly initialised model (said so)."""
    from .. import build
    from ..predict.model_files import is_onnx_path, is_openvino_path

    weights = args.weights
    if is_onnx_path(weights) or is_openvino_path(weights) or is_onnx_path(args.config):
        raise GnrcnnError(f"{weights or args.config}: already exported; give the PyTorch checkpoint it was made "
                          "from (--weights model.pth, .safetensors; --config NAME: its published weights)")  # fmt: skip
    if not args.config and not weights:
        raise GnrcnnError("give --config NAME (its published weights are fetched), or --weights of a checkpoint")
    if weights and weights.lower() == "none":
        print("warning: --weights none: the exported model is randomly initialised", file=sys.stderr)
    return build.load(args.config, weights, args.overrides)


def cmd_export(args: argparse.Namespace) -> int:
    from ..export.onnx import OPSET, export_model, save_model

    if args.format == "hub":
        return _export_hub(args)
    fmt = args.format or ("openvino" if args.out.lower().endswith(".xml") or args.int8 else "onnx")
    if args.int8 and fmt == "onnx":
        raise GnrcnnError("--int8 writes an OpenVINO model: give --out model.xml (not --format onnx)")
    suffix = {"onnx": ".onnx", "openvino": ".xml"}[fmt]
    if not args.out.lower().endswith(suffix):
        raise GnrcnnError(f"--out {args.out}: the file name must end in {suffix} for {fmt}"
                          f"{' (INT8 is written as OpenVINO IR)' if args.int8 else ''}")  # fmt: skip
    if args.int8 and not args.calib:
        raise GnrcnnError("--int8 needs --calib IMAGES_DIR_OR_COCO_JSON: images like the ones the model will see")
    if args.data_root and not (args.calib or "").lower().endswith(".json"):
        raise GnrcnnError(f"--data-root {args.data_root}: it names the images of a COCO JSON --calib; give one")
    calib = None
    if args.int8:  # before the model loads: a bad folder is said at once
        from ..export.int8 import calibration_images

        calib = calibration_images(args.calib, args.calib_count, args.data_root)
    cfg, model = _load(args)
    if fmt == "openvino":
        return _openvino(args, cfg, model, calib)
    print(f"exporting {cfg.name or 'the model'}: tracing, then a check in onnxruntime (a minute or two on 2 cores)",
          file=sys.stderr, flush=True)  # fmt: skip
    result = export_model(cfg, model, opset=args.opset or OPSET)
    size = save_model(result.proto, args.out)
    print(f"{args.out}: {size / 2**20:.1f} MB, opset {args.opset or OPSET}, {len(result.op_types)} standard operator "
          f"types, exported in {result.seconds:.1f} s; check: {result.check}")  # fmt: skip
    print(f"run it: gnrcnn predict --weights {args.out} IMAGES --out DIR   (docs/deploy.md: without gnrcnn)")
    return 0


def _export_hub(args: argparse.Namespace) -> int:
    from ..export.hub_folder import write_hub_folder

    if not args.weights:
        raise GnrcnnError("export --format hub: give --weights (the trained model, e.g. work_dirs/x/model_final.pth)")
    cfg, model = _load(args)
    files = write_hub_folder(cfg, model, args.out, args.weights)
    print(f"{args.out}: {', '.join(f.name for f in files)}; upload it with: "
          f"hf upload OWNER/REPO {args.out} .   (docs/weights.md)")  # fmt: skip
    return 0


def _openvino(args: argparse.Namespace, cfg: Any, model: Any, calib: list[Path] | None) -> int:
    from ..export.openvino import export_openvino

    what = f"INT8, calibrated on {len(calib)} image(s)" if calib else "fp32"
    print(f"exporting {cfg.name or 'the model'} to OpenVINO ({what}): tracing, a check in onnxruntime, "
          "conversion" + (", calibration" if calib else ""), file=sys.stderr, flush=True)  # fmt: skip
    r = export_openvino(cfg, model, args.out, calib, args.opset)
    print(f"{args.out} (+ .bin): {r.size / 2**20:.1f} MB, {what}, exported in {r.seconds:.1f} s; "
          f"check: {r.onnx_check}; {r.check}")  # fmt: skip
    print(f"run it: gnrcnn predict --weights {args.out} IMAGES --out DIR   (--amp bf16: bf16 where the CPU has it)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a model -> an ONNX file (onnxruntime), OpenVINO IR (fp32, INT8) or a Hub folder")
    common.add_config(p)
    p.add_argument("--weights", help="checkpoint: gnrcnn, MMDetection, ... (by content), URL, hf://, zoo name or "
                   "'none'; default: the config's published checkpoint")  # fmt: skip
    p.add_argument("--out", required=True, help="the .onnx file, the OpenVINO .xml (its .bin beside it), or the "
                   "folder for --format hub")  # fmt: skip
    p.add_argument("--format", choices=["onnx", "openvino", "hub"], default=None,
                   help="default: openvino for an --out ending in .xml, else onnx; hub: a Hugging Face Hub folder "
                   "(weights, config, model card)")  # fmt: skip
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17; RoiAlign needs >= 16)")
    p.add_argument("--int8", action="store_true", help="OpenVINO INT8: NNCF post-training quantization "
                   "of the backbone, FPN and heads (box decoding, RoIAlign, NMS, masks stay fp32)")  # fmt: skip
    p.add_argument("--calib", help="--int8's calibration images: a folder of images or a COCO JSON")
    p.add_argument("--data-root", help="the folder a COCO JSON --calib's file names are relative to (as train's); "
                   "default: the JSON's folder or the one above")  # fmt: skip
    p.add_argument("--calib-count", type=int, default=300, help="at most this many calibration images (default 300)")
    p.set_defaults(func=cmd_export)
