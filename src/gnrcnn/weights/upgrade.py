"""gnrcnn's own checkpoints of an earlier format version, brought to the current one.

Version 1 (before the RoI heads became one part) named the heads ``box_head.*`` and ``mask_head.*``
and its configs used ``box_coding``, ``by_iter`` + ``epochs`` + ``lr_steps`` and a boolean
``train.channels_last`` and ``train.checkpoint_backbone``. Version 2 says ``roi_heads.box_head.*``,
``box_arithmetic``, ``epochs``/``lr_step_epochs`` or ``iters``/``lr_step_iters``, a layout name and
``train.recompute_backbone``.
"""

from __future__ import annotations

import copy
from typing import Any

FORMAT_VERSION = 2

_V1_PREFIXES = (("box_head.", "roi_heads.box_head."), ("mask_head.", "roi_heads.mask_head."))


def upgrade_key(key: str) -> str:
    """A version-1 state-dict key under its current name."""
    for old, new in _V1_PREFIXES:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def upgrade_config(raw: dict[str, Any]) -> dict[str, Any]:
    """A version-1 config dict under the current schema's names (a new dict; ``raw`` is left as it is)."""
    cfg = copy.deepcopy(raw)
    model, train = cfg.get("model", {}), cfg.get("train", {})
    if "box_coding" in model:
        model["box_arithmetic"] = model.pop("box_coding")
    if "lr_steps" in train:
        steps = train.pop("lr_steps")
        if train.pop("by_iter", False):
            train["iters"], train["lr_step_iters"] = train.pop("epochs", 0), steps
        else:
            train["lr_step_epochs"] = steps
    if "checkpoint_backbone" in train:
        train["recompute_backbone"] = "always" if train.pop("checkpoint_backbone") else "never"
    if isinstance(train.get("channels_last"), bool):
        train["channels_last"] = "all" if train["channels_last"] else "none"
    return cfg


def upgrade(version: int, state_dict: dict[str, Any], config: dict[str, Any] | None
            ) -> tuple[dict[str, Any], dict[str, Any] | None]:  # fmt: skip
    """(state dict, config) of a gnrcnn checkpoint of ``version`` in the current format."""
    if version >= FORMAT_VERSION:
        return state_dict, config
    return {upgrade_key(k): v for k, v in state_dict.items()}, upgrade_config(config) if config else config
