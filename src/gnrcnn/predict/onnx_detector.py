"""A detector that runs an exported file (``gnrcnn export``) in onnxruntime: the ``Detector`` interface
(``cfg``, ``class_names``, ``device``, ``predict``, ``iter_predict``, ``run_batch``, ``preprocessor``)
with the same resize before the graph and the same rescaling and mask pasting after it.

The config comes from the file's metadata; only what happens outside the graph can be overridden
(``input.short``, ``input.long``, ``input.resize``, ``model.roi.mask_thr``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config.loader import config_from_dict, merge_overrides, parse_overrides
from ..config.schema import Config
from ..data.preprocess import RawPreprocessor
from ..errors import GnrcnnError
from ..modeling import to_instances
from ..structures import Detections, ImageMeta, Instances
from .detector import DetectorBase
from .model_files import META_PREFIX, is_onnx_path

OUTSIDE_THE_GRAPH = {"input.short", "input.long", "input.resize", "model.roi.mask_thr", "predict.*"}
OPTIMIZATION = ("disable", "basic", "extended", "all")


def _flat_keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in tree.items():
        out += _flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


def _session(path: Path, device: torch.device, threads: int | None, optimization: str, spin: bool) -> Any:
    import onnxruntime as ort

    if not path.is_file():
        raise GnrcnnError(f"{path}: ONNX model file not found")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]  # fmt: skip
    if threads:
        opts.intra_op_num_threads = threads
    if not spin:  # idle worker threads sleep instead of spinning: kinder to a machine shared with others
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        else:
            print("warning: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu): running on the CPU",
                  file=sys.stderr)  # fmt: skip
    try:
        return ort.InferenceSession(str(path), opts, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for unreadable files
        raise GnrcnnError(f"{path}: not a loadable ONNX model ({str(e).splitlines()[0][:200]})") from None


class OnnxDetector(DetectorBase):
    """``OnnxDetector("model.onnx").predict(images)`` -> list of ``Instances`` in original-image pixels."""

    def __init__(
        self, path: str | Path, *, device: torch.device | str = "cpu", overrides: list[str] | None = None,
        threads: int | None = None, optimization: str = "all", spin: bool = True,
    ) -> None:  # fmt: skip
        """``threads``: onnxruntime's intra-op threads (default: its own choice, the physical cores);
        ``optimization``: its graph optimisation level, one of ``OPTIMIZATION``."""
        self.path = Path(path)
        self.session = _session(self.path, torch.device(device), threads, optimization, spin)
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.cfg = self._config(overrides)
        self.device = torch.device("cpu")  # where the results are: outputs come back as host arrays
        self.preprocessor = RawPreprocessor(self.cfg.input)

    def _config(self, overrides: list[str] | None) -> Config:
        if META_PREFIX + "config" not in self.metadata:
            raise GnrcnnError(f"{self.path}: no gnrcnn metadata in this ONNX file (make it with `gnrcnn export`)")
        baked = [k for k in _flat_keys(parse_overrides(overrides or []))
                 if k not in OUTSIDE_THE_GRAPH and not k.startswith("predict.")]  # fmt: skip
        if baked:
            raise GnrcnnError(f"{self.path}: --set {baked[0]} is fixed inside the exported graph (only "
                              f"{', '.join(sorted(OUTSIDE_THE_GRAPH))} can change); export again instead")  # fmt: skip
        raw = merge_overrides(json.loads(self.metadata[META_PREFIX + "config"]), overrides)
        return config_from_dict(raw, self.metadata.get(META_PREFIX + "config_name", ""))

    def run_graph(self, batch: torch.Tensor, sizes: torch.Tensor) -> tuple[Detections, torch.Tensor]:
        """The graph on a zero-padded uint8 RGB batch (N, 3, H, W) and its (N, 2) image sizes."""
        feeds = {"images": batch.cpu().numpy(), "image_sizes": sizes.cpu().numpy().astype(np.int64)}
        boxes, scores, labels, image_ids, probs = (torch.from_numpy(o) for o in self.session.run(None, feeds))
        return Detections(boxes, scores, labels, image_ids), probs

    def run_batch(self, batch: torch.Tensor, sizes: torch.Tensor, metas: list[ImageMeta]) -> list[Instances]:
        """The graph and the post-processing on a batch from ``self.preprocessor``."""
        dets, probs = self.run_graph(batch, sizes)
        m = self.cfg.model
        return self.named(to_instances(dets, probs, metas, mask_thr=m.roi.mask_thr, box_arithmetic=m.box_arithmetic))


def load_onnx(
    config: object, weights: object, device: str | torch.device, overrides: list[str] | None, amp: str | None,
    compile: bool,
) -> OnnxDetector:  # fmt: skip
    """``load_model``'s path for an exported file, given as ``config`` or as ``weights`` (not both)."""
    if config is not None and weights is not None:
        raise GnrcnnError(f"{weights if is_onnx_path(weights) else config}: an ONNX file carries its own config; "
                          "give it alone (--weights model.onnx, no --config)")  # fmt: skip
    if (amp and amp != "auto") or compile:  # auto: fp32, the precision of the graph
        raise GnrcnnError("--amp and --compile apply to PyTorch models, not to an ONNX file")
    return OnnxDetector(str(config if weights is None else weights), device=device, overrides=overrides)
