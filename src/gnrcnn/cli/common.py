"""Flags more than one sub-command takes, declared once, and what they turn into."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..errors import GnrcnnError

if TYPE_CHECKING:
    from ..predict.detector import Detector


def add_config(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--config", required=required, help="config name (see `gnrcnn zoo`) or a YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable)")  # fmt: skip


def add_device(p: argparse.ArgumentParser, what: str = "inference") -> None:
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--amp", choices=["bf16", "fp16", "auto"], default=None,
                   help=f"reduced-precision {what} (fp16: CUDA only; auto: bf16 where it is faster here)")  # fmt: skip


def add_model(p: argparse.ArgumentParser) -> None:
    """--config, --set, --weights, --device, --amp, --compile, --tf32: everything that makes a Detector."""
    add_config(p)
    p.add_argument("--weights", help="a file (gnrcnn, MMDetection, detectron2, safetensors, ...: told by content), "
                   "an http(s) URL, hf://owner/repo[@revision][/file], a zoo name, or 'none' (random init); default: "
                   "the config's published checkpoint")  # fmt: skip
    add_device(p)
    p.add_argument("--compile", action="store_true", help="torch.compile the backbone, FPN and heads")
    p.add_argument("--tf32", action="store_true", help="allow TF32 on NVIDIA GPUs (faster, not exact fp32)")


def add_inference(p: argparse.ArgumentParser, batching: bool = True) -> None:
    """How images go through the model (``predict.loop``), the same for predict, eval and serve: tiles and
    test-time augmentation (overrides of the config's ``predict`` keys), and with ``batching`` the batch
    size and the decoding threads."""
    p.add_argument("--tile", type=int, metavar="SIZE",
                   help="cut images into SIZE x SIZE tiles at native resolution (0: off; predict.tile)")  # fmt: skip
    p.add_argument("--overlap", type=float, metavar="FRACTION",
                   help="tiles overlap by at least this fraction of a tile (predict.tile_overlap: 0.2)")  # fmt: skip
    p.add_argument("--tta", action="store_true",
                   help="test-time augmentation: also mirrored and at predict.tta_scales, merged (predict.tta; "
                   "several times slower)")  # fmt: skip
    if batching:
        p.add_argument("--batch-size", type=int, default=1, help="images or frames per model call (1: exact)")
        p.add_argument("--workers", type=int, default=2,
                       help="decoding threads ahead of the model (0: no prefetching, no writer thread)")  # fmt: skip


def inference_overrides(args: argparse.Namespace) -> list[str]:
    """``add_inference``'s flags as ``--set`` overrides of the ``predict`` section, checked with the config."""
    if getattr(args, "batch_size", 1) < 1 or getattr(args, "workers", 0) < 0:
        raise GnrcnnError("--batch-size must be at least 1, --workers at least 0")
    out = [f"predict.tile={args.tile}"] if args.tile is not None else []
    out += [f"predict.tile_overlap={args.overlap}"] if args.overlap is not None else []
    return out + (["predict.tta=true"] if args.tta else [])


def device(name: str | None) -> str:
    import torch

    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise GnrcnnError(f"--device {name}: CUDA is not available on this machine")
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_detector(args: argparse.Namespace) -> Detector:
    from ..api import load_model

    if not args.config and not args.weights:
        raise GnrcnnError("give --config NAME (its published weights are fetched), or --weights of a gnrcnn checkpoint")
    if args.weights and args.weights.lower() == "none":
        print("warning: --weights none: the model is randomly initialised", file=sys.stderr)
    dev = device(args.device)
    overrides = args.overrides + (inference_overrides(args) if hasattr(args, "tta") else [])
    return load_model(args.config, args.weights, dev, overrides, args.amp, args.compile, args.tf32)
