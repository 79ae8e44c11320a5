"""Building and loading models by config name, config file or checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .config import Config, config_from_dict, load_config
from .engine.predictor import Detector
from .errors import GnrcnnError
from .modeling import MaskRCNN
from .weights import LoadedWeights, load_into, load_weights_file


def build_model(cfg: Config) -> MaskRCNN:
    """A randomly initialised network for ``cfg`` (class count from ``cfg.data.class_names``)."""
    return MaskRCNN(cfg.model, cfg.num_classes)


def build_with_weights(cfg: Config, loaded: LoadedWeights | None, where: str) -> MaskRCNN:
    """Build and fill from ``loaded``; a backbone-only file leaves the rest randomly initialised.

    A complete checkpoint's tensors become the model's own (built on the meta device, nothing is
    initialised or copied), which makes loading several times faster.
    """
    if loaded is None or loaded.backbone_only:
        model = build_model(cfg)
        if loaded is not None:
            load_into(model, loaded, where)
        return model
    with torch.device("meta"):
        model = MaskRCNN(cfg.model, cfg.num_classes, init=False)
    load_into(model, loaded, where, assign=True)
    return model.apply_memory_format()


def resolve_config(
    config: str | Config | None, weights: LoadedWeights | None, overrides: list[str] | None = None
) -> Config:
    """The config to build: given by name/path/object, else the one a gnrcnn checkpoint carries.

    With both, the architecture comes from ``config`` and the classes from the checkpoint, whose
    weights fix the class count.
    """
    if isinstance(config, Config):
        cfg = config
    elif config is not None:
        cfg = load_config(str(config), overrides)
    elif weights is not None and weights.config:
        cfg = config_from_dict(_merge_overrides(weights.config, overrides), weights.config.get("name", ""))
        return cfg
    else:
        raise GnrcnnError("no config: give a config name or file (these weights do not carry one)")
    if weights is not None and weights.config and "data" in weights.config:
        data = weights.config["data"]
        cfg.data.class_names = list(data.get("class_names", cfg.data.class_names))
        cfg.data.category_ids = list(data.get("category_ids", cfg.data.category_ids))
    return cfg


def _merge_overrides(raw: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    if not overrides:
        return raw
    from .config import _merge, parse_overrides

    return _merge(raw, parse_overrides(overrides))


def load_model(
    config: str | Path | Config | None = None,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    overrides: list[str] | None = None,
    amp: str | None = None,
    compile: bool = False,
    tf32: bool = False,
) -> Detector:
    """``load_model("mask-rcnn_r50_fpn_gn-all_2x_coco", weights="...pth")`` -> a ready ``Detector``.

    ``weights`` may be a gnrcnn checkpoint, a published MMDetection checkpoint of the seed zoo or
    any other supported format (told by content); loading never runs code from the file.
    """
    loaded = load_weights_file(weights) if weights is not None else None
    cfg = resolve_config(None if config is None else config if isinstance(config, Config) else str(config),
                         loaded, overrides)  # fmt: skip
    return Detector(cfg, build_with_weights(cfg, loaded, str(weights)), device, amp, compile, tf32)
