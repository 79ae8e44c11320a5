"""``gnrcnn bench --runtimes``, part 1: which runtimes this machine has, each model exported once for them.

A runtime is a name and how to load it (``Plan``): PyTorch from the config and weights the user gave,
the others from the files exported here (one ONNX export; OpenVINO fp32 and INT8 converted from it,
as ``gnrcnn export`` does). A runtime that cannot be had gets its one-line reason instead and the
others go on. ``load`` is what both the timing process and each fresh memory-measuring child call.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import GnrcnnError

CPU_RUNTIMES = ["pytorch fp32", "pytorch bf16", "onnxruntime fp32", "openvino fp32", "openvino bf16", "openvino int8"]
GPU_RUNTIMES = ["pytorch fp32", "pytorch fp16", "pytorch bf16", "onnxruntime fp32"]


@dataclass(frozen=True)
class Plan:
    """One runtime: ``kind`` (pytorch, onnx, openvino), the file or model spec it loads and its precision."""

    name: str
    kind: str
    source: tuple[str | None, str | None, tuple[str, ...]]  # config, weights, overrides (pytorch); (None, file, ())
    amp: str | None = None
    device: str = "cpu"
    threads: int | None = None


@dataclass
class Prepared:
    plans: list[Plan] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # runtime -> its one-line reason
    export_s: dict[str, float] = field(default_factory=dict)  # export -> seconds


def reason(e: BaseException) -> str:
    """An exception as one short line for a table cell."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    kind = "" if isinstance(e, GnrcnnError) else f"{type(e).__name__}: "
    return (kind + text)[:160] or type(e).__name__


def bf16_skips() -> dict[str, str]:
    """The CPU's bf16 rows each runtime cannot run, with the reason. PyTorch (oneDNN) runs bf16 on any
    AVX-512 CPU, natively or emulated (then often slower than fp32: the table shows it); OpenVINO only
    where the CPU has bf16 units, and would otherwise run fp32 under the bf16 name."""
    out = {}
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        out["pytorch bf16"] = "skipped: PyTorch has no bf16 on this CPU"
    try:
        from ..predict.openvino_detector import has_bf16

        if not has_bf16():
            out["openvino bf16"] = "skipped: this CPU has no bf16 units for OpenVINO"
    except ImportError:
        pass  # no OpenVINO: its export says so
    return out


def load(plan: Plan) -> Any:
    """The detector ``plan`` names, ready to predict."""
    from ..predict.onnx_detector import OnnxDetector
    from ..predict.openvino_detector import OpenVinoDetector

    config, weights, overrides = plan.source
    if plan.kind == "pytorch":
        return load_pytorch(config, weights, list(overrides), plan.device, plan.amp)
    if plan.kind == "onnx":
        return OnnxDetector(weights, device=plan.device, threads=plan.threads, overrides=list(overrides))  # type: ignore[arg-type]
    return OpenVinoDetector(weights, threads=plan.threads, amp=plan.amp, overrides=list(overrides))  # type: ignore[arg-type]


def load_pytorch(config: str | None, weights: str | None, overrides: list[str], device: str = "cpu",
                 amp: str | None = None) -> Any:  # fmt: skip
    """The PyTorch ``Detector`` of a config and weights (what ``gnrcnn.load_model`` gives for them)."""
    from .. import build
    from ..predict.detector import Detector
    from ..predict.model_files import is_onnx_path, is_openvino_path

    if is_onnx_path(weights) or is_openvino_path(weights) or is_onnx_path(config) or is_openvino_path(config):
        raise GnrcnnError(f"--runtimes: {weights or config} is an exported model, one runtime only; give the "
                          "PyTorch weights (and config) it was exported from")  # fmt: skip
    cfg, model = build.load(config, weights, overrides)
    return Detector(cfg, model, device=device, amp=amp, owns_model=True)


def _export(name: str, fn: Any, out: Prepared, reasons: dict[str, str]) -> Any:
    start = time.perf_counter()
    try:
        result = fn()
    except Exception as e:  # one export's failure is its rows' reason, never the whole table's
        reasons[name] = f"{name} export failed: {reason(e)}"
        return None
    out.export_s[name] = time.perf_counter() - start
    return result


def export_onnx(cfg: Any, model: torch.nn.Module, path: Path) -> Any:
    """The ONNX export (checked against PyTorch) saved as ``path``; the ``ExportResult`` OpenVINO's reuse."""
    from ..export.onnx import export_model, save_model

    result = export_model(cfg, model)
    save_model(result.proto, str(path))
    return result


def export_openvino(detector: Any, exported: Any, path: Path, calib: list[Path] | None = None,
                    converted: Any = None) -> Path:  # fmt: skip
    """``gnrcnn export --out model.xml [--int8 --calib]`` from the ONNX export already made (and its
    OpenVINO conversion, ``converted``, when made)."""
    from ..export.openvino import export_openvino as to_openvino_files

    to_openvino_files(detector.cfg, detector.model, path, calib, exported=exported, converted=converted)
    return path


def _skips(device: str, calib: list[Path] | None) -> dict[str, str]:
    """Runtimes this machine or these flags rule out before any export, with the reason."""
    if device.startswith("cuda"):
        out = {} if torch.cuda.is_bf16_supported() else {"pytorch bf16": "skipped: this GPU has no bf16"}
        try:
            import onnxruntime as ort

            providers = ort.get_available_providers()
        except ImportError:
            providers = []  # the export says what is missing
        if "CUDAExecutionProvider" not in providers:
            out["onnxruntime fp32"] = "skipped: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu)"
        return out
    out = bf16_skips()
    if not calib:
        out["openvino int8"] = "skipped: needs --calib (a folder of images or a COCO JSON to calibrate on)"
    return out


def prepare(detector: Any, source: tuple, work: Path, *, device: str = "cpu", threads: int | None = None,
            calib: list[Path] | None = None, only: list[str] | None = None) -> Prepared:  # fmt: skip
    """Plans for every runtime of ``device`` (``only``: those named), exporting ``detector``'s model
    (lent, unchanged) into ``work`` as they need; the rest with their reasons."""
    names = [n for n in (GPU_RUNTIMES if device.startswith("cuda") else CPU_RUNTIMES) if not only or n in only]
    out = Prepared(skipped={n: r for n, r in _skips(device, calib).items() if n in names})
    names = [n for n in names if n not in out.skipped]
    files: dict[str, Any] = {}
    if any(not n.startswith("pytorch") for n in names):
        files = _exports(detector, work, names, calib, out)
    amp = {"pytorch fp16": "fp16", "pytorch bf16": "bf16", "openvino bf16": "bf16"}
    for n in names:
        kind = n.split()[0].replace("onnxruntime", "onnx")
        if kind == "pytorch":
            out.plans.append(Plan(n, kind, source, amp.get(n), device, threads))
            continue
        path = files.get("int8" if n == "openvino int8" else kind)
        if isinstance(path, Path):
            out.plans.append(Plan(n, kind, (None, str(path), ()), amp.get(n), device, threads))
        else:
            out.skipped[n] = path or "no export"
    return out


def _exports(detector: Any, work: Path, names: list[str], calib: list[Path] | None, out: Prepared) -> dict[str, Any]:
    """kind -> the exported file, or the one-line reason it could not be made."""
    reasons: dict[str, str] = {}
    onnx = _export("ONNX", lambda: export_onnx(detector.cfg, detector.model, work / "model.onnx"), out, reasons)
    if onnx is None:  # every exported runtime starts from the ONNX graph
        return dict.fromkeys(["onnx", "openvino", "int8"], reasons["ONNX"])
    files: dict[str, Any] = {"onnx": work / "model.onnx"}
    converted = functools.cache(lambda: to_openvino(onnx.proto))  # ONNX -> OpenVINO once (~10 s) for fp32 and INT8

    def openvino(path: Path, images: list[Path] | None = None) -> Path:
        return export_openvino(detector, onnx, path, images, converted())

    if any(n in names for n in ("openvino fp32", "openvino bf16")):
        path = _export("OpenVINO", lambda: openvino(work / "model.xml"), out, reasons)
        files["openvino"] = path or reasons["OpenVINO"]
    if "openvino int8" in names:
        path = _export("OpenVINO INT8", lambda: openvino(work / "int8.xml", calib), out, reasons)
        files["int8"] = path or reasons["OpenVINO INT8"]
    return files


def to_openvino(proto: Any) -> Any:
    """The ONNX graph as an ``ov.Model`` (``export/openvino.to_openvino``), imported only when needed."""
    from ..export.openvino import to_openvino as convert

    return convert(proto)
