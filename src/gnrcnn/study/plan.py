"""The plan of ``gnrcnn study norm-vs-batch``: which norms, batch sizes, data and schedule."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import GnrcnnError

STUDY_NORMS = ("gn", "bn", "frozen_bn", "none")


@dataclass(frozen=True)
class Plan:
    """What the study trains. The defaults are the full study (docs/study.md: ~1 hour on 2 CPU cores)."""

    norms: tuple[str, ...] = ("gn", "bn", "none")
    batches: tuple[int, ...] = (1, 2, 4, 8)
    images: int = 800  # training images seen by every run (2 epochs of the training set)
    train_images: int = 400
    val_images: int = 100
    size: int = 160  # image side in pixels
    seed: int = 0
    warmup_images: int = 80  # the lr warm-up, in images seen
    step_fractions: tuple[float, ...] = (0.8, 0.93)  # lr x0.1 at these fractions of the run
    overrides: tuple[str, ...] = field(default_factory=tuple)  # more --set pairs, applied to every run
    # 0: the same images seen by every run (images / batch iterations); N > 0: the equal-iterations control,
    # N iterations at every batch size (batch b sees N * b images), warm-up and lr steps at the same iterations
    iterations: int = 0

    def iters(self, batch: int) -> int:
        return self.iterations or self.images // batch

    def check(self) -> None:
        bad = [n for n in self.norms if n not in STUDY_NORMS]
        if bad:
            raise GnrcnnError(f"study: unknown norm(s) {bad}; choose from {', '.join(STUDY_NORMS)}")
        for b in self.batches:
            if b < 1 or (self.images % b and not self.iterations) or self.train_images < b:
                raise GnrcnnError(f"study: batch {b} must divide --images {self.images} and be <= --train-images "
                                  f"{self.train_images}")  # fmt: skip


# CI: the code path (two norms, two batch sizes, skip and resume) in seconds; not a measurement.
QUICK = Plan(norms=("gn", "bn"), batches=(1, 2), images=4, train_images=4, val_images=2, size=64, warmup_images=2)
