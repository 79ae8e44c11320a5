"""The console: a progress bar with rate and ETA (``gnrcnn.progress``: tqdm on a terminal, whole lines in a
log), the latest loss and lr on it, and the run's messages above it."""

from __future__ import annotations

import sys
from typing import Any

from ...progress import progress
from .store import Event, Image, Message, Scalars


class ConsoleWriter:
    name = "console"

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None
        self.shown = 0

    def open(self, start: int) -> None:
        self.bar = progress(total=self.total, initial=start, desc="train", unit="it", file=sys.stderr,
                            dynamic_ncols=True)  # fmt: skip
        self.shown = start

    def _print(self, text: str) -> None:
        (self.bar.write if self.bar is not None else print)(text)

    def write(self, event: Event) -> None:
        if isinstance(event, Message):
            self._print(event.text)
        elif isinstance(event, Scalars) and event.group == "iter" and self.bar is not None:
            self.bar.update(event.iteration - self.shown)
            self.shown = event.iteration
        elif isinstance(event, Scalars) and event.group == "train" and self.bar is not None:
            self.bar.set_postfix(loss=f"{event.values['loss']:.4f}", lr=f"{event.values['lr']:.2e}", refresh=False)
        elif isinstance(event, Scalars) and event.group not in ("iter", "train", "val"):  # a user's: one line
            values = ", ".join(f"{k} {v:.4g}" for k, v in event.values.items())
            self._print(f"iteration {event.iteration}: {event.group}: {values}")
        elif isinstance(event, Image):
            self._print(f"iteration {event.iteration}: picture {event.name}: {event.path}")

    def close(self, outcome: str) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
