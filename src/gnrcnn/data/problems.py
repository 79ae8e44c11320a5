"""Problems found in a dataset, each one line naming the file, image or annotation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

ERROR = "error"  # training cannot start: the data is inconsistent
SKIP = "skip"  # the item is left out, as the reference does; training goes on
WARNING = "warning"  # nothing is left out, but a guess was made (classes named by their index, ...)
# Problem kinds that leave out a whole image (the other kinds leave out an annotation or a shape).
IMAGE_KINDS = ("missing-file", "unreadable-image", "undecodable-image", "size-mismatch", "bad-image-entry",
               "duplicate-image-id")  # fmt: skip


@dataclass(frozen=True)
class Problem:
    severity: str  # ERROR, SKIP or WARNING
    where: str  # "ann.json: annotation 17", "images/a.jpg", ...
    message: str
    kind: str = ""  # a short tag for counting: "bad-polygon", "missing-file", ...

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


def summarize(problems: list[Problem]) -> str:
    """'3 skipped (2 degenerate-box, 1 bad-polygon)' style counts."""
    counts = Counter(p.kind or p.message for p in problems)
    return ", ".join(f"{n} {k}" for k, n in counts.most_common())


def images_left_out(problems: Sequence[Problem], reasons: Counter[str] | None = None) -> Counter[str]:
    """How many images were left out, by reason: the problems that drop a whole image, plus ``reasons``
    (readable images a reader left out for its own rules: no annotation, too small, ...)."""
    return Counter(p.kind for p in problems if p.kind in IMAGE_KINDS) + (reasons or Counter())


def count_text(counts: Counter[str] | dict[str, int]) -> str:
    """'3 (2 undecodable-image, 1 smaller than 32 px)', or '0'."""
    counts = Counter(counts)
    return f"{sum(counts.values())} (" + ", ".join(f"{n} {k}" for k, n in counts.most_common()) + ")" if counts else "0"
