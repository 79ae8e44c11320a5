"""Weights files of every supported origin -> gnrcnn state dicts, checked one-to-one against a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import GnrcnnError
from . import detectron, detectron2, mmdet
from .safe_load import read_weights
from .upgrade import FORMAT_VERSION, upgrade, upgrade_key


@dataclass
class LoadedWeights:
    state_dict: dict[str, torch.Tensor]
    format: str  # gnrcnn | mmdet | mmdet-backbone | ...
    config: dict[str, Any] | None = None  # gnrcnn checkpoints carry the config they were made with
    meta: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # entries of the file that map to nothing
    origin: dict[str, str] = field(default_factory=dict)  # gnrcnn key -> the file's own name for it

    @property
    def backbone_only(self) -> bool:
        return all(k.startswith("backbone.") for k in self.state_dict)


def _tensors(d: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v for k, v in d.items()}


def interpret(obj: Any, where: str) -> LoadedWeights:
    """Tell the format of a loaded object by its content and convert it to gnrcnn names."""
    if not isinstance(obj, dict):
        raise GnrcnnError(f"{where}: expected a dict of weights, found {type(obj).__name__}")
    if obj.get("format") == "gnrcnn":
        sd, config = upgrade(int(obj.get("version", 1)), obj["model"], obj.get("config"))
        return LoadedWeights(sd, "gnrcnn", config, dict(obj.get("meta") or {}))
    if detectron2.is_detectron2(obj):
        sd, ignored, origin = detectron2.convert(obj)
        meta = {k: v for k, v in obj.items() if k != "model" and isinstance(v, (str, int, float, bool))}
        return LoadedWeights(sd, "detectron2", None, meta, ignored, origin)
    if detectron.is_detectron(obj):
        sd, ignored, origin = detectron.convert(obj)
        return LoadedWeights(sd, "detectron", None, {}, ignored, origin)
    sd = obj.get("state_dict", obj)
    if isinstance(sd, dict) and sd and all(isinstance(v, torch.Tensor) for v in sd.values()):
        meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
        if mmdet.is_mmdet_detector(sd):
            out, origin = mmdet.convert_detector(sd)
            return LoadedWeights(out, "mmdet", None, dict(meta), origin=origin)
        if mmdet.is_mmdet_backbone(sd):
            out, ignored, origin = mmdet.convert_backbone(sd)
            return LoadedWeights(out, "mmdet-backbone", None, dict(meta), ignored, origin)
        if any(k.startswith(("backbone.norm1", "roi_heads.", "box_head.", "fpn.")) for k in sd):
            return LoadedWeights({upgrade_key(k): v for k, v in sd.items()}, "gnrcnn-state-dict")
    raise GnrcnnError(f"{where}: unrecognised weights format (top-level keys: {', '.join(map(str, list(obj)[:6]))})")


def load_weights_file(path: str | Path) -> LoadedWeights:
    return interpret(read_weights(path), str(path))


def _first(items: list[str], n: int = 4) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items)} in all)" if len(items) > n else "")


def _named(key: str, weights: LoadedWeights | None) -> str:
    """A key with the file's own name for it, when that differs."""
    name = weights.origin.get(key) if weights else None
    if name is None and weights is not None and weights.format == "detectron":
        name = detectron.blob_name(key)
    return f"{key} ('{name}' in the file)" if name and name != key else key


def check_fit(
    model: nn.Module, sd: dict[str, torch.Tensor], where: str, backbone_only: bool = False,
    weights: LoadedWeights | None = None,
) -> None:  # fmt: skip
    """Raise one readable line listing missing, unexpected and mis-shaped keys (first few of each)."""
    want = {k: v.shape for k, v in model.state_dict().items()}
    if backbone_only:
        want = {k: s for k, s in want.items() if k.startswith("backbone.")}
    missing = [_named(k, weights) for k in want if k not in sd]
    unexpected = [_named(k, weights) for k in sd if k not in want]
    misshaped = [
        f"{_named(k, weights)} (file {list(sd[k].shape)} vs model {list(want[k])})"
        for k in want
        if k in sd and tuple(sd[k].shape) != tuple(want[k])
    ]
    if missing or unexpected or misshaped:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: {_first(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: {_first(unexpected)}")
        if misshaped:
            parts.append(f"{len(misshaped)} mis-shaped: {_first(misshaped, 3)}")
        raise GnrcnnError(f"{where}: weights do not fit this model; " + "; ".join(parts))


def load_into(model: nn.Module, weights: LoadedWeights, where: str, assign: bool = False) -> None:
    """Load weights into ``model`` after checking they map one-to-one (the backbone alone for backbone files).

    ``assign=True`` makes the file's tensors (as float32, contiguous) the model's own, for a model
    built on the meta device.
    """
    sd = _tensors(weights.state_dict)
    check_fit(model, sd, where, weights.backbone_only, weights)
    if assign:
        want = model.state_dict()
        sd = {k: v.to(dtype=want[k].dtype).contiguous() for k, v in sd.items()}
    model.load_state_dict(sd, strict=not weights.backbone_only, assign=assign)


def gnrcnn_checkpoint(model: nn.Module, config: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """gnrcnn's own format: plain data only, so it loads with ``weights_only=True``."""
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}  # NCHW, whatever trained
    return {"format": "gnrcnn", "version": FORMAT_VERSION, "config": config, "meta": dict(meta or {}), "model": sd}
