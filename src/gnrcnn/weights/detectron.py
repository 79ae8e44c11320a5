"""Detectron (Caffe2) ImageNet backbones, e.g. ``R-50-GN.pkl``: numpy blobs named the Caffe2 way.

``conv1_w``, ``conv1_gn_s`` / ``conv1_gn_b`` (GN scale / bias), ``res<S>_<B>_branch2{a,b,c}_w`` (+ ``_gn_s``,
``_gn_b``), ``res<S>_<B>_branch1_*`` for projections, stages res2..res5 -> gnrcnn's ``backbone.*``. The
classifier (``pred_*``), ``*_momentum`` and any detection-head blobs are reported as ignored.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

_BRANCH2 = {"a": 1, "b": 2, "c": 3}
_NORM_SUFFIX = {"s": "weight", "b": "bias"}
# Detectron's affine-channel (frozen BN) blobs use _bn_s/_bn_b; GN models use _gn_s/_gn_b.
_PATTERN = re.compile(r"^(?:conv1|res(\d)_(\d+)_branch(1|2[abc]))_(w|b|(?:gn|bn)_[sb])$")


def is_detectron(obj: Any) -> bool:
    blobs = obj.get("blobs", obj) if isinstance(obj, dict) else None
    return isinstance(blobs, dict) and "conv1_w" in blobs and any(str(k).startswith("res2_0_") for k in blobs)


def map_blob(name: str) -> str | None:
    """gnrcnn key for a Detectron blob name, or None if it is not part of the backbone."""
    m = _PATTERN.match(name)
    if m is None:
        return None
    stage, block, branch, kind = m.groups()
    if stage is None:  # the stem
        prefix, conv, norm = "backbone.", "conv1", "norm1"
    elif branch == "1":
        prefix, conv, norm = f"backbone.layer{int(stage) - 1}.{int(block)}.", "downsample.0", "downsample.1"
    else:
        k = _BRANCH2[branch[1]]
        prefix, conv, norm = f"backbone.layer{int(stage) - 1}.{int(block)}.", f"conv{k}", f"norm{k}"
    if kind == "w":
        return f"{prefix}{conv}.weight"
    if kind == "b":
        return f"{prefix}{conv}.bias"
    return f"{prefix}{norm}.{_NORM_SUFFIX[kind[-1]]}"


def blob_name(key: str) -> str | None:
    """The Detectron blob name of a gnrcnn backbone key (for error messages about missing blobs)."""
    m = re.match(r"^backbone\.(?:layer(\d)\.(\d+)\.)?(conv[123]|norm[123]|downsample\.[01])\.(weight|bias)$", key)
    if m is None:
        return None
    layer, block, part, leaf = m.groups()
    prefix = "conv1" if layer is None else f"res{int(layer) + 1}_{block}_"
    if layer is not None:
        prefix += "branch1" if part.startswith("downsample") else f"branch2{'abc'[int(part[-1]) - 1]}"
    is_norm = part.startswith("norm") or part == "downsample.1"
    return prefix + (("_gn_s" if leaf == "weight" else "_gn_b") if is_norm else ("_w" if leaf == "weight" else "_b"))


def convert(obj: dict[str, Any]) -> tuple[dict[str, np.ndarray], list[str], dict[str, str]]:
    """(gnrcnn backbone state dict of numpy arrays, names of the ignored blobs, gnrcnn key -> blob name)."""
    blobs = obj.get("blobs", obj)
    out, ignored, origin = {}, [], {}
    for name, value in blobs.items():
        key = map_blob(str(name))
        if key is None or not isinstance(value, np.ndarray):
            ignored.append(str(name))
        else:
            out[key], origin[key] = value, str(name)
    return out, ignored, origin
