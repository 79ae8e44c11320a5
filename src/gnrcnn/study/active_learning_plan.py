"""The plan of ``gnrcnn study active-learning``: which signals, seeds, pool, rounds and schedule."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import GnrcnnError
from ..labels.rank import SIGNALS


@dataclass(frozen=True)
class Plan:
    signals: tuple[str, ...] = ("random", "score", "flip", "mask")
    seeds: tuple[int, ...] = (0, 1)
    pool: int = 60  # generated images that stand for the unlabelled data
    val_images: int = 24
    size: int = 128
    start: int = 12  # labelled before the first round
    k: int = 12  # labelled per round
    rounds: int = 3
    iterations: int = 100  # per training run, every round alike
    overrides: tuple[str, ...] = field(default_factory=tuple)

    def check(self) -> None:
        bad = [s for s in self.signals if s not in SIGNALS]
        if bad:
            raise GnrcnnError(f"study: unknown signal(s) {bad}; choose from {', '.join(SIGNALS)}")
        if self.start + self.rounds * self.k > self.pool:
            raise GnrcnnError(f"study: --start {self.start} + --rounds {self.rounds} x --k {self.k} images is more "
                              f"than the --pool of {self.pool}")  # fmt: skip

    def labelled(self) -> list[int]:
        return [self.start + r * self.k for r in range(self.rounds + 1)]


# CI: the code path (a start, one round of two signals, the skip of finished runs) in seconds; not a result.
QUICK = Plan(signals=("random", "score"), seeds=(0,), pool=5, val_images=2, size=64, start=2, k=1, rounds=1,
             iterations=1)  # fmt: skip
