"""Deterministic MMDetection-format weights from a state-dict manifest (no MMDetection needed).

Re-implements the generator that produced ``data/reference``'s expected outputs
(``shared/spec/reference-sample``); the tests, the benchmarks and ``benchmarks/cpu_runtimes.py`` use
these weights where no trained checkpoint is at hand. Every tensor is drawn from numpy's legacy
RandomState seeded by sha256("<seed>:<key>"), with distributions modelled on MMDetection's
initialisation and perturbed so that every parameter matters. The bytes are identical on every machine.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).parent.parent / "assets"  # mmdet-state-dict/<config>.json: each config's MMDetection keys


def _rng(key: str, seed: int) -> np.random.RandomState:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return np.random.RandomState(int.from_bytes(digest[:4], "little"))


def _kaiming_fan_out(rng: np.random.RandomState, shape: tuple[int, ...]) -> np.ndarray:
    fan_out = shape[0] * int(np.prod(shape[2:]))
    return rng.normal(0, np.sqrt(2.0 / fan_out), shape)


def sample(key: str, shape: tuple[int, ...], seed: int, bg_bias: float) -> np.ndarray:
    rng = _rng(key, seed)
    owner, leaf = key.split(".")[-2], key.split(".")[-1]
    if leaf == "bias" and ("gn" in owner or (owner == "1" and "downsample" in key)):
        return rng.normal(0, 0.1, shape)  # norm biases (a projection's norm is "downsample.1")
    if leaf == "weight" and len(shape) == 1:  # norm weights; the last norm of a bottleneck centred at 0
        return (0.0 if owner == "gn3" else 1.0) + rng.normal(0, 0.1, shape)
    if leaf == "bias":
        if key == "roi_head.bbox_head.fc_cls.bias":
            b = rng.normal(0, 0.3, shape)
            b[-1] += bg_bias
            return b
        return np.zeros(shape)
    stds = {
        "rpn_head.rpn_conv": np.hypot(0.01, 0.02),
        "rpn_head.rpn_cls": np.hypot(0.01, 0.05),
        "rpn_head.rpn_reg": 0.01,
        "roi_head.bbox_head.fc_cls": np.hypot(0.01, 0.2),
        "roi_head.bbox_head.fc_reg": 0.001,
    }
    module = key.rsplit(".", 1)[0]
    if module in stds:
        return rng.normal(0, stds[module], shape)
    if key.startswith("neck.") or key.startswith("roi_head.bbox_head.shared_fcs"):
        rf = int(np.prod(shape[2:]))
        bound = np.sqrt(6.0 / (shape[1] * rf + shape[0] * rf))
        return rng.uniform(-bound, bound, shape)
    return _kaiming_fan_out(rng, shape)


def manifest(config: str) -> dict:
    return json.loads((DATA / "mmdet-state-dict" / f"{config}.json").read_text())


def make_state_dict(config: str, seed: int = 2026, bg_bias: float = 6.0) -> dict[str, torch.Tensor]:
    return {
        key: torch.from_numpy(sample(key, tuple(shape), seed, bg_bias).astype(np.float32))
        for key, shape in manifest(config)["state_dict"]
    }


def write_checkpoint(config: str, path: Path, seed: int = 2026, bg_bias: float = 6.0) -> Path:
    """An MMDetection-format checkpoint: ``{"state_dict": ..., "meta": ...}``."""
    meta = {"config": config, "generator": "gnrcnn.weights.reference", "seed": seed, "bg_bias": bg_bias}
    torch.save({"state_dict": make_state_dict(config, seed, bg_bias), "meta": meta}, path)
    return path
