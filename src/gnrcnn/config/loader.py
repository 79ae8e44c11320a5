"""Loading configs: the schema's dataclasses filled from YAML files with ``_base_`` inheritance.

A config is found by name (a YAML shipped in ``gnrcnn/configs``) or by path. A file may start
with ``_base_: <name or relative path>``; its keys are merged over the base's, section by section.
``--set section.key=value`` overrides are applied last. Every key and value is checked against the
dataclasses of ``config.schema``, so a typo is one clear line naming it rather than a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import GnrcnnError
from .schema import Config, PredictConfig


def available_configs() -> list[str]:
    """Names of the configs shipped with the package (bases, whose names start with '_', excluded)."""
    root = resources.files("gnrcnn") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml") and not p.name.startswith("_"))


def config_summary(name: str) -> str:
    """The first sentence of a shipped config's opening comment (what it is for), or ""."""
    text = (resources.files("gnrcnn") / "configs" / f"{name}.yaml").read_text()
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    return " ".join(lines).split(". ")[0].rstrip(".")


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise GnrcnnError(f"{where}: not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GnrcnnError(f"{where}: a config file must be a mapping of sections, got {type(data).__name__}")
    return data


def _load_raw(name_or_path: str, seen: tuple[str, ...] = (), relative_to: Path | None = None) -> dict[str, Any]:
    """The merged (base first) dict of a config name or YAML path."""
    path = Path(name_or_path)
    if relative_to is not None and not path.is_absolute() and (relative_to / path).is_file():
        path = relative_to / path
    if path.suffix in (".yaml", ".yml") and path.is_file():
        where, text, parent = str(path), path.read_text(), path.parent
    else:
        shipped = resources.files("gnrcnn") / "configs" / f"{name_or_path}.yaml"
        if not shipped.is_file():
            if path.suffix in (".yaml", ".yml"):
                raise GnrcnnError(f"config file not found: {name_or_path}")
            names = ", ".join(available_configs())
            raise GnrcnnError(f"unknown config name '{name_or_path}' (known: {names}; or give a .yaml path)")
        where, text, parent = f"config '{name_or_path}'", shipped.read_text(), None
    if where in seen:
        raise GnrcnnError(f"{where}: circular _base_ chain ({' -> '.join((*seen, where))})")
    data = _read_yaml(text, where)
    base = data.pop("_base_", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise GnrcnnError(f"{where}: _base_ must be a config name or path, got {base!r}")
    return _merge(_load_raw(base, (*seen, where), parent), data)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


_DECIMAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted for floats, and so are numbers
    in exponent notation without a dot (``1e-4``), which YAML 1.1 reads as strings."""
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise GnrcnnError(f"config key '{key}': expected a list, got {value!r}")
        (inner,) = typing.get_args(tp)
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported annotation {tp}")  # pragma: no cover - schema bug
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is bool or tp is str:
        if isinstance(value, tp):
            return value
    else:
        raise TypeError(f"unsupported annotation {tp}")  # pragma: no cover - schema bug
    raise GnrcnnError(f"config key '{key}': expected {tp.__name__}, got {value!r}")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if not isinstance(data, dict):
        raise GnrcnnError(f"config section '{prefix.rstrip('.')}' must be a mapping, got {data!r}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(fields)
        raise GnrcnnError(f"unknown config key '{prefix}{unknown[0]}' (known in this section: {known})")
    kwargs = {}
    for name, value in data.items():
        tp, key = hints[name], f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, key + ".")
            continue
        value = _coerce(value, tp, key)
        choices = fields[name].metadata.get("choices")
        if choices and value not in choices:
            raise GnrcnnError(f"config key '{key}': {value!r} is not one of {', '.join(map(str, choices))}")
        kwargs[name] = value
    return cls(**kwargs)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["model.rpn.nms_iou=0.6", ...]`` -> nested dict; values are read as YAML scalars/lists."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise GnrcnnError(f"--set expects section.key=value, got '{pair}'")
        key, raw = pair.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) < 2 or not all(parts):
            raise GnrcnnError(f"--set expects section.key=value, got '{pair}'")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise GnrcnnError(f"--set {key}: cannot read value '{raw}'") from None
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def merge_overrides(raw: dict[str, Any], overrides: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    """``raw`` with ``--set``-style overrides (``["a.b=1"]`` or a nested dict) merged over it."""
    if not overrides:
        return raw
    over = parse_overrides(overrides) if isinstance(overrides, list) else overrides
    return _merge(raw, _schedule_override(raw, over))


def _schedule_override(raw: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """An epoch schedule asked for in the overrides replaces the file's iteration schedule (``train.iters`` > 0
    would otherwise win silently), or is refused in one line when it is only half given or contradicted."""
    t_over, t_file = over.get("train"), raw.get("train")
    if not isinstance(t_over, dict) or not {"epochs", "lr_step_epochs"} & t_over.keys():
        return over
    iters_over = t_over.get("iters")
    if iters_over:
        raise GnrcnnError(f"--set train.iters={iters_over} schedules by iterations, which contradicts the "
                          "train.epochs / train.lr_step_epochs given with it: set one schedule, not both")  # fmt: skip
    file_iters = t_file.get("iters", 0) if isinstance(t_file, dict) else 0
    if not file_iters or (iters_over == 0 and "lr_step_iters" in t_over):
        return over
    if not {"epochs", "lr_step_epochs"} <= t_over.keys():
        steps = t_file.get("lr_step_iters", [])
        raise GnrcnnError(f"the config schedules by iterations (train.iters={file_iters}, lr_step_iters={steps}): "
                          "to train by epochs give both --set train.epochs=N and --set \"train.lr_step_epochs=[A,B]\", "
                          "or change train.iters and train.lr_step_iters instead")  # fmt: skip
    return _merge(over, {"train": {"iters": 0, "lr_step_iters": []}})


def config_from_dict(data: dict[str, Any], name: str = "") -> Config:
    """A checked ``Config`` from a plain dict (as ``Config.to_dict`` gives, or as a checkpoint carries)."""
    data = dict(data)
    data.setdefault("name", name)
    cfg = _build(Config, data, "")
    validate(cfg)
    return cfg


def load_config(name_or_path: str, overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """A shipped config by name (``mask-rcnn_r50_fpn_gn-all_2x_coco``) or a YAML file, plus overrides."""
    raw = merge_overrides(_load_raw(name_or_path), overrides)
    name = Path(name_or_path).stem if name_or_path.endswith((".yaml", ".yml")) else name_or_path
    return config_from_dict(raw, raw.get("name", name) if isinstance(raw.get("name"), str) else name)


def validate(cfg: Config) -> None:
    """Cross-field checks a dataclass type cannot express."""
    if len(cfg.data.class_names) != len(cfg.data.category_ids):
        raise GnrcnnError(
            f"config: data.class_names has {len(cfg.data.class_names)} entries but "
            f"data.category_ids has {len(cfg.data.category_ids)}"
        )
    if not cfg.data.class_names:
        raise GnrcnnError("config: data.class_names is empty")
    for key in ("mean", "std"):
        if len(getattr(cfg.input, key)) != 3:
            raise GnrcnnError(f"config key 'input.{key}': expected 3 values")
    if len(cfg.model.rpn.strides) != 5:
        raise GnrcnnError("config key 'model.rpn.strides': expected 5 strides (P2..P6)")
    if len(cfg.model.roi.box_stds) != 4:
        raise GnrcnnError("config key 'model.roi.box_stds': expected 4 values")
    if not -1 <= cfg.model.backbone.frozen_stages <= 4:
        raise GnrcnnError("config key 'model.backbone.frozen_stages': expected -1..4")
    if cfg.model.backbone.width < 1 or (cfg.model.backbone.norm == "gn" and cfg.model.backbone.width % 32):
        raise GnrcnnError("config key 'model.backbone.width': expected a positive multiple of 32 (GN's 32 groups)")
    if cfg.input.short <= 0 or cfg.input.long <= 0:
        raise GnrcnnError("config keys 'input.short'/'input.long' must be positive")
    check_predict(cfg.predict)
    if cfg.train.lr_step_iters and cfg.train.iters <= 0:
        raise GnrcnnError("config key 'train.lr_step_iters' needs 'train.iters' > 0 (an iteration schedule)")
    _validate_training_controls(cfg)
    _validate_augment(cfg)


def _validate_training_controls(cfg: Config) -> None:
    t = cfg.train
    for key in ("eval_every_epochs", "eval_every_iters", "early_stop"):
        if getattr(t, key) < 0:
            raise GnrcnnError(f"config key 'train.{key}': must be >= 0")
    if t.eval_every_epochs and t.eval_every_iters:
        raise GnrcnnError("config keys 'train.eval_every_epochs' and 'train.eval_every_iters': set one, not both")
    if t.early_stop and not (t.eval_every_epochs or t.eval_every_iters):
        raise GnrcnnError("config key 'train.early_stop' needs evaluations: set 'train.eval_every_epochs' or "
                          "'train.eval_every_iters' (--eval-every)")  # fmt: skip
    if t.clip_grad_norm < 0:
        raise GnrcnnError("config key 'train.clip_grad_norm': must be >= 0 (0: no clipping)")
    if not 0 <= t.ema_decay < 1:
        raise GnrcnnError("config key 'train.ema_decay': must be in [0, 1) (0: no EMA)")
    if cfg.model.roi.max_detections < 1:
        raise GnrcnnError("config key 'model.roi.max_detections': must be >= 1")


def _validate_augment(cfg: Config) -> None:
    a = cfg.augment
    if len(a.lsj_scale) != 2 or not 0 < a.lsj_scale[0] <= a.lsj_scale[1]:
        raise GnrcnnError("config key 'augment.lsj_scale': expected [min, max] with 0 < min <= max")
    if len(a.crop_range) != 2 or not 0 < a.crop_range[0] <= a.crop_range[1] <= 1:
        raise GnrcnnError("config key 'augment.crop_range': expected [min, max] with 0 < min <= max <= 1")
    if a.lsj and a.crop:
        raise GnrcnnError("config keys 'augment.lsj' and 'augment.crop': choose one (LSJ already crops)")
    if a.lsj_size < 0:
        raise GnrcnnError("config key 'augment.lsj_size': must be >= 0 (0: input.long)")
    for key in ("vflip_prob", "min_visible"):
        if not 0 <= getattr(a, key) <= 1:
            raise GnrcnnError(f"config key 'augment.{key}': must be in [0, 1]")
    if a.min_box_size < 0:
        raise GnrcnnError("config key 'augment.min_box_size': must be >= 0")


def check_predict(p: PredictConfig) -> None:
    """The inference settings, checked once where a config is made (``gnrcnn predict``/``eval``/``serve``'s
    --tile, --overlap and --tta are overrides of these keys, so one check names both)."""

    def key(name: str, value: object) -> str:
        flag = {"tile": " (--tile)", "tile_overlap": " (--overlap)", "tta_scales": ""}.get(name, "")
        return f"config key 'predict.{name}'{flag} {value}"

    if p.tile < 0 or 0 < p.tile < 32:
        raise GnrcnnError(f"{key('tile', p.tile)}: expected a tile size of at least 32 px (or 0: no tiling)")
    if not 0 <= p.tile_overlap <= 0.9:
        raise GnrcnnError(f"{key('tile_overlap', p.tile_overlap)}: expected a fraction of the tile in 0..0.9")
    if p.tile_batch < 1:
        raise GnrcnnError(f"{key('tile_batch', p.tile_batch)}: expected at least 1")
    if not p.tta_scales or not all(0.1 <= s <= 4 for s in p.tta_scales):
        raise GnrcnnError(f"{key('tta_scales', p.tta_scales)}: expected one or more factors of the test scale "
                          "in 0.1..4")  # fmt: skip


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
