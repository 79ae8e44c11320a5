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
    return load_model(args.config, args.weights, dev, args.overrides, args.amp, args.compile,
                      args.tf32)  # fmt: skip
