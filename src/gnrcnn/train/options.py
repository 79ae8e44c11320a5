"""The options of ``gnrcnn train`` (and ``gnrcnn.train_model``) that are config values, turned into the
config: ``batch_size=2`` is ``train.images_per_gpu=2``, ``eval_every="500it"`` is ``train.eval_every_iters=500``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.loader import config_from_dict, load_config, merge_overrides, parse_overrides
from ..config.schema import Config
from ..errors import GnrcnnError

# option (the flag's name) -> the config key it sets
CONFIG_OPTIONS = {"batch_size": "train.images_per_gpu", "seed": "train.seed", "num_workers": "train.num_workers",
                  "accumulate": "train.accumulate", "best_metric": "train.best_metric",
                  "early_stop": "train.early_stop", "clip_grad": "train.clip_grad_norm", "ema": "train.ema_decay",
                  "mlflow": "train.mlflow_uri", "keep_empty": "data.keep_empty_images"}  # fmt: skip


def eval_every_overrides(text: str) -> list[str]:
    """``"2"`` -> every 2 epochs, ``"500it"`` -> every 500 iterations, ``"0"`` -> only at the end."""
    digits = text[:-2] if text.endswith("it") else text
    if not digits.isdigit():
        raise GnrcnnError(f"--eval-every expects N (epochs) or Nit (iterations), e.g. 1 or 500it; got '{text}'")
    n = int(digits)
    iters = text.endswith("it")
    return [f"train.eval_every_epochs={0 if iters else n}", f"train.eval_every_iters={n if iters else 0}"]


def training_config(
    config: str | Path | Config, overrides: list[str] | None = None, *, eval_every: str | int | None = None,
    scale: tuple[int, int] | None = None, **options: Any,
) -> Config:  # fmt: skip
    """The config to train: ``config`` (a name, a YAML file or a ``Config``) with ``overrides``
    (``["section.key=value"]``), then the options, which win."""
    if unknown := sorted(set(options) - set(CONFIG_OPTIONS)):
        known = ", ".join(["eval_every", "scale", *CONFIG_OPTIONS])
        raise GnrcnnError(f"unknown training option '{unknown[0]}'; the options: {known} (any config value: "
                          "overrides=['section.key=value'])")  # fmt: skip
    pairs = list(overrides or []) + (eval_every_overrides(str(eval_every)) if eval_every is not None else [])
    if scale:
        pairs += [f"input.short={scale[0]}", f"input.long={scale[1]}"]
    over = parse_overrides(pairs)
    for name, value in options.items():
        if value is not None and value is not False:  # a flag not given (keep_empty: only True sets it)
            section, key = CONFIG_OPTIONS[name].split(".")
            over.setdefault(section, {})[key] = value  # values as given: a URI is not parsed as YAML
    if isinstance(config, Config):
        return config_from_dict(merge_overrides(config.to_dict(), over), config.name) if over else config
    return load_config(str(config), over)
