"""Problems found in a dataset, each one line naming the file, image or annotation."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

ERROR = "error"  # training cannot start: the data is inconsistent
SKIP = "skip"  # the item is left out, as the reference does; training goes on


@dataclass(frozen=True)
class Problem:
    severity: str  # ERROR or SKIP
    where: str  # "ann.json: annotation 17", "images/a.jpg", ...
    message: str
    kind: str = ""  # a short tag for counting: "bad-polygon", "missing-file", ...

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


def summarize(problems: list[Problem]) -> str:
    """'3 skipped (2 degenerate-box, 1 bad-polygon)' style counts."""
    counts = Counter(p.kind or p.message for p in problems)
    return ", ".join(f"{n} {k}" for k, n in counts.most_common())
