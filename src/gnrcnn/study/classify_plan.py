"""The plans of ``gnrcnn study classify`` and ``gnrcnn study group-sweep``: norms, batches, data, schedule.

A norm is named by a short spec: ``bn``, ``gn`` (``groups`` groups), ``ln`` (GN with one group),
``in`` (GN with one channel per group), ``gn_g<G>`` (G groups) and ``gn_c<C>`` (C channels per group).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from torch import nn

from ..data.shapes import SHAPES
from ..errors import GnrcnnError
from ..modeling.norm import NormLayer
from .classifier import group_norm_of

_SPEC = re.compile(r"^(bn|gn|ln|in|gn_g\d+|gn_c\d+)$")


def norm_of(spec: str, groups: int) -> NormLayer:
    """The norm callable a spec names (``groups``: the G of plain ``gn``)."""
    if spec == "bn":
        return nn.BatchNorm2d
    if spec in ("gn", "ln"):
        return group_norm_of(groups=groups if spec == "gn" else 1)
    if spec == "in":
        return group_norm_of(per_group=1)
    count = int(spec[4:])
    return group_norm_of(groups=count) if spec.startswith("gn_g") else group_norm_of(per_group=count)


@dataclass(frozen=True)
class ClassifyPlan:
    """What a classification study trains. The defaults are ``gnrcnn study classify``'s full study."""

    norms: tuple[str, ...] = ("bn", "gn", "ln", "in")
    batches: tuple[int, ...] = (32, 16, 8, 4, 2)
    seeds: tuple[int, ...] = (0, 1)
    train_images: int = 2500
    test_images: int = 2000
    size: int = 24  # image side in pixels
    widths: tuple[int, ...] = (32, 64, 128)  # channels of each stage
    blocks: tuple[int, ...] = (1, 1, 1)  # BasicBlocks per stage
    groups: int = 32  # G of "gn" (capped at a layer's channels: min(G, C))
    epochs: int = 10  # the same for every batch size (the paper's protocol)
    base_lr: float = 0.1  # at base_batch; scaled linearly with the batch
    base_batch: int = 32
    momentum: float = 0.9
    weight_decay: float = 1e-4
    classes: tuple[str, ...] = SHAPES  # which shapes are the classes
    data_seed: int = 0  # the data set is the same for every run; seeds vary the weights and the order
    overrides: tuple[str, ...] = field(default_factory=tuple)  # reserved: keeps plan.json's keys stable

    def check(self) -> None:
        bad = [n for n in self.norms if not _SPEC.match(n)]
        if bad:
            raise GnrcnnError(f"study: unknown norm(s) {bad}; use bn, gn, ln, in, gn_g<groups> or gn_c<channels>")
        if any(b < 1 or b > self.train_images for b in self.batches) or not self.seeds or self.epochs < 1:
            raise GnrcnnError(f"study: batches {list(self.batches)} must lie in 1..--train-images "
                              f"{self.train_images}, with at least one seed and one epoch")  # fmt: skip
        if len(self.widths) != len(self.blocks):
            raise GnrcnnError(f"study: {len(self.widths)} widths but {len(self.blocks)} block counts")
        for spec in self.norms:
            try:
                [norm_of(spec, self.groups)(w) for w in self.widths]
            except ValueError as e:
                raise GnrcnnError(f"study: norm {spec} does not fit widths {list(self.widths)}: {e}") from None


SWEEP_NORMS = ("gn_g1", "gn_g2", "gn_g4", "gn_g8", "gn_g16", "gn_g32", "gn_c32", "gn_c16", "gn_c8", "gn_c4", "gn_c2",
               "gn_c1")  # fmt: skip
SWEEP = ClassifyPlan(norms=SWEEP_NORMS, batches=(32,))  # the paper's Table 3 is at 32 images per GPU

# CI: the code path (every kind of norm, two batches, skip and resume) in seconds; not a measurement.
QUICK = ClassifyPlan(norms=("bn", "gn", "ln", "in"), batches=(8, 4), seeds=(0, 1), train_images=32, test_images=16,
                     size=16, widths=(8, 16), blocks=(1, 1), groups=4, epochs=1)  # fmt: skip
QUICK_SWEEP = ClassifyPlan(norms=("gn_g1", "gn_g4", "gn_c2", "gn_c1"), batches=(8,), seeds=(0,), train_images=32,
                           test_images=16, size=16, widths=(8, 16), blocks=(1, 1), groups=4, epochs=1)  # fmt: skip
