"""The plan of ``gnrcnn study detect-pretrained``: its variants, the pretraining and the fine-tuning."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import GnrcnnError
from .classify_plan import ClassifyPlan
from .plan import Plan

# variant -> (backbone pretrained with, backbone / FPN / heads norms)
VARIANTS: dict[str, tuple[str | None, tuple[str, str, str]]] = {
    "bn_star": ("bn", ("frozen_bn", "none", "none")),
    "gn_backbone": ("gn", ("gn", "none", "none")),
    "gn_all": ("gn", ("gn", "gn", "gn")),
    "gn_all_scratch": (None, ("gn", "gn", "gn")),
}


def _pretrain_default() -> ClassifyPlan:
    # lr 0.025 at 32 images for both norms: at the classify study's 0.1, GN's ResNet-18 was still at chance
    # (training loss ln 6) after 2 epochs and ended 10 epochs at 42% error against BN's 3.6%; at 0.025 it learned
    # from the start (45% error after 2 epochs). The paper's ImageNet rate is 0.1 per 256 images, 0.0125 at 32.
    return ClassifyPlan(norms=("bn", "gn"), batches=(32,), seeds=(0,), train_images=2500, test_images=1000, size=64,
                        epochs=10, base_lr=0.025)  # fmt: skip


def _detect_default() -> Plan:
    return Plan(norms=(), batches=(2,), images=600, warmup_images=50)


@dataclass(frozen=True)
class DetectPretrainedPlan:
    """What the study trains. The defaults are the full study (docs/study.md: about an hour on one core)."""

    pretrain: ClassifyPlan = field(default_factory=_pretrain_default)  # norms, batch, data, epochs of pretraining
    depth: int = 18  # the backbone's ResNet depth (the demo's)
    detect: Plan = field(default_factory=_detect_default)  # images seen, data, size, warm-up, lr steps of fine-tuning
    variants: tuple[str, ...] = ("bn_star", "gn_backbone", "gn_all")
    seeds: tuple[int, ...] = (0, 1)  # detection seeds
    # Fine-tuning lr at train.base_batch (16) images, scaled linearly: 0.01 at 2, half the demo's from-scratch lr. BN*
    # (no norm in the FPN and heads) trained at it without diverging; without a norm anywhere the demo diverged at 0.02.
    base_lr: float = 0.08

    def check(self) -> None:
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad or not self.variants or not self.seeds:
            raise GnrcnnError(f"study: variants {list(self.variants)} and seeds {list(self.seeds)}: need at least "
                              f"one of each, variants from {', '.join(VARIANTS)}")  # fmt: skip
        if len(self.detect.batches) != 1 or set(self.pretrain.norms) - {"bn", "gn"}:
            raise GnrcnnError("study: detect-pretrained fine-tunes at one batch size from bn and gn backbones")
        self.pretrain.check()
        self.detect.check()

    def backbones(self) -> list[str]:
        """The pretrained backbones the variants need, in the plan's order."""
        return [n for n in self.pretrain.norms if any(VARIANTS[v][0] == n for v in self.variants)]


# CI: the code path (both backbones, every variant, skip and resume) in seconds; not a measurement.
QUICK = DetectPretrainedPlan(
    pretrain=dataclasses.replace(_pretrain_default(), train_images=8, test_images=4, size=32, epochs=1, batches=(4,)),
    detect=Plan(norms=(), batches=(2,), images=4, train_images=4, val_images=2, size=64, warmup_images=2),
    seeds=(0,),
)
