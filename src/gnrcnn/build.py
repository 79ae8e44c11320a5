"""Models from configs and weights files: the one place a checkpoint and a config meet."""

from __future__ import annotations

import dataclasses

import torch

from . import zoo
from .config.loader import config_from_dict, load_config, merge_overrides
from .config.schema import Config, DataConfig
from .errors import GnrcnnError
from .modeling import MaskRCNN
from .weights import LoadedWeights, load_into


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
    return model.apply_memory_layout()


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
        return config_from_dict(merge_overrides(weights.config, overrides), weights.config.get("name", ""))
    else:
        raise GnrcnnError("no config: give a config name or file (these weights do not carry one)")
    if weights is not None and weights.config and "data" in weights.config:
        data = weights.config["data"]
        classes = DataConfig(class_names=list(data.get("class_names", cfg.data.class_names)),
                             category_ids=list(data.get("category_ids", cfg.data.category_ids)))  # fmt: skip
        cfg = dataclasses.replace(cfg, data=classes)
    return cfg


def published_weights(config: str | Config | None, overrides: list[str] | None = None) -> str:
    """The weights a config means when none are given: its published checkpoint (a zoo name).

    A config has one when its name is a zoo entry's (``gnrcnn zoo``); a YAML file of your own has
    another name, so random initialisation, or any other start, is an explicit choice.
    """
    if config is None:
        raise GnrcnnError("give a config name or file (whose published weights are then fetched), or weights")
    cfg = config if isinstance(config, Config) else load_config(str(config), overrides)
    if zoo.find(cfg.name) is None:
        raise GnrcnnError(f"config '{cfg.name}' has no published checkpoint: give weights (a file, an http(s) URL "
                          "or a zoo name), or 'none' for a randomly initialised model")  # fmt: skip
    return cfg.name
