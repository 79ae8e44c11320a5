"""Models from configs and weights: the one place a weights spec (a zoo name, a URL, a file or "none") and a
config meet. ``gnrcnn.load_model``, ``gnrcnn convert``, ``gnrcnn export`` (through the API), training and its
fine-tuning all build here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from . import zoo
from .config.loader import config_from_dict, load_config, merge_overrides
from .config.schema import Config, DataConfig
from .errors import GnrcnnError
from .modeling import MaskRCNN
from .weights import LoadedWeights, hub, load_into, load_weights_file

CLASS_SPECIFIC = ("roi_heads.box_head.cls_score.", "roi_heads.box_head.bbox_pred.", "roi_heads.mask_head.logits.")


def parse_config(config: str | Path | Config | None, overrides: list[str] | None = None) -> Config | None:
    """A config name or YAML file read once (with ``overrides``); a ``Config`` or None as given."""
    return config if config is None or isinstance(config, Config) else load_config(str(config), overrides)


def read_weights(spec: str | Path | None) -> tuple[Path | None, LoadedWeights | None]:
    """A weights spec -> its local file (downloaded and hash-checked once) and its tensors, read without running
    code; ``None`` or ``"none"`` -> (None, None)."""
    path = hub.resolve(spec) if spec is not None else None
    return path, (load_weights_file(path) if path is not None else None)


def is_weights_spec(spec: str | Path | Config | None) -> bool:
    """Whether ``spec`` (given where a config is expected) names weights: a URL, or a file that is no YAML."""
    if spec is None or isinstance(spec, Config):
        return False
    if str(spec).startswith(("http://", "https://", "hf://")):
        return True
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".pth", ".pt", ".pkl", ".safetensors", ".onnx"):
        return True
    return path.is_file() and suffix not in (".yaml", ".yml")


def load(
    config: str | Path | Config | None, weights: str | Path | None, overrides: list[str] | None = None
) -> tuple[Config, MaskRCNN]:
    """``(config, weights spec)`` -> the config to use and its model, filled. Omitted weights mean a zoo config's
    published checkpoint; a checkpoint alone brings its own config (``resolve_config``)."""
    cfg = parse_config(config, overrides)
    path, loaded = read_weights(published_weights(cfg) if weights is None else weights)
    cfg = resolve_config(cfg, loaded, overrides)
    return cfg, build_with_weights(cfg, loaded, str(path))


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
    config: str | Path | Config | None, weights: LoadedWeights | None, overrides: list[str] | None = None
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


def published_weights(config: str | Path | Config | None, overrides: list[str] | None = None) -> str:
    """The weights a config means when none are given: its published checkpoint (a zoo name).

    A config has one when its name is a zoo entry's (``gnrcnn zoo``); a YAML file of your own has
    another name, so random initialisation, or any other start, is an explicit choice.
    """
    cfg = parse_config(config, overrides)
    if cfg is None:
        raise GnrcnnError("give a config name or file (whose published weights are then fetched), or weights")
    if zoo.find(cfg.name) is None:
        raise GnrcnnError(f"config '{cfg.name}' has no published checkpoint: give weights (a file, an http(s) URL "
                          "or a zoo name), or 'none' for a randomly initialised model")  # fmt: skip
    return cfg.name


def build_for_training(cfg: Config, weights: str | None, backbone_weights: str | None, verbose: bool) -> MaskRCNN:
    """A model for ``cfg``, started from a detection checkpoint, an ImageNet backbone, or from scratch.

    ``weights`` and ``backbone_weights`` are files, URLs or zoo names (``weights/hub.py``) or "none".
    Without ``weights``, a zoo config starts from its published backbone unless ``backbone_weights``
    says otherwise ("none": from scratch); a config of your own starts from scratch.
    """
    model = build_model(cfg)
    say = print if verbose else (lambda *a, **k: None)
    if weights is not None and str(weights).lower() != "none":
        _load_detector(model, cfg, weights, say)
        return model
    entry = zoo.find(cfg.name)
    if backbone_weights is None and entry is not None:
        backbone_weights = entry.backbone
        say(f"backbone: {backbone_weights}, as the published recipe ('--backbone-weights none' trains from scratch)")
    path, loaded = read_weights(backbone_weights)
    if loaded is None:
        say("training FROM SCRATCH: no --weights and no --backbone-weights (every layer randomly initialised)")
        return model
    if not loaded.backbone_only:
        loaded.state_dict = {k: v for k, v in loaded.state_dict.items() if k.startswith("backbone.")}
    load_into(model, loaded, str(path))
    ignored = f"; ignored {len(loaded.ignored)} entries" if loaded.ignored else ""
    say(f"backbone from {backbone_weights} ({loaded.format}){ignored}; the rest initialised at random")
    return model


def checkpoint_classes(loaded: LoadedWeights) -> list[str] | None:
    """The class names a detection checkpoint was trained on, where it says (gnrcnn, MMDetection meta)."""
    data = (loaded.config or {}).get("data") or {}
    meta = loaded.meta.get("dataset_meta") if isinstance(loaded.meta.get("dataset_meta"), dict) else loaded.meta
    names = data.get("class_names") or meta.get("classes") or meta.get("CLASSES")
    return [str(n) for n in names] if isinstance(names, (list, tuple)) and names else None


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _load_detector(model: MaskRCNN, cfg: Config, weights: str, say: Callable[..., None]) -> None:
    """Everything but the class-specific layers when the checkpoint's classes are not ``cfg``'s."""
    path, loaded = read_weights(weights)
    assert loaded is not None
    if loaded.backbone_only:
        raise GnrcnnError(f"{weights}: holds a backbone only; pass it as --backbone-weights")
    want, sd = model.state_dict(), loaded.state_dict
    theirs, mine = checkpoint_classes(loaded), list(cfg.data.class_names)
    keys = [k for k in want if k.startswith(CLASS_SPECIFIC) and k in sd]
    shapes_differ = any(tuple(sd[k].shape) != tuple(want[k].shape) for k in keys)
    if keys and (shapes_differ or (theirs is not None and theirs != mine)):
        # Fine-tuning to other classes: the class-specific layers keep their fresh initialisation.
        cls = sd.get(CLASS_SPECIFIC[0] + "weight")  # (classes + background, fc)
        n = len(theirs) if theirs else (len(cls) - 1 if cls is not None else "?")
        layers = ", ".join(p.rstrip(".") for p in CLASS_SPECIFIC)
        was = f"{n} classes: {_few(theirs)}" if theirs else f"{n} classes"
        say(f"note: {weights}: re-initialised {layers} for {len(mine)} classes ({_few(mine)}); "
            f"the checkpoint's {was}")  # fmt: skip
        sd.update({k: want[k] for k in keys})
    elif keys and theirs is None:
        say(f"note: {weights}: kept its class-specific layers (it names no classes; same count, {len(mine)})")
    load_into(model, loaded, str(path))
    say(f"starting from {weights} ({loaded.format})")
