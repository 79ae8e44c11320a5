"""TensorBoard (``pip install gnrcnn[tensorboard]``; without it, this writer is left out): the logged steps
as ``train/*``, evaluations as ``val/*``, a user's scalars as ``<group>/*`` and pictures as images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .store import Event, Image, Scalars


class TensorBoardWriter:
    name = "tensorboard"

    def __init__(self, work_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # ImportError without tensorboard: the caller skips it

        self._make = SummaryWriter
        self.folder = work_dir / "tb"
        self.tb: Any = None

    def open(self, start: int) -> None:
        self.tb = self._make(str(self.folder), purge_step=start or None)  # a resumed run drops later events

    def write(self, event: Event) -> None:
        if self.tb is None:
            return
        if isinstance(event, Scalars) and event.group != "iter":
            for k, v in event.values.items():
                if k != "epoch":
                    self.tb.add_scalar(f"{event.group}/{k}", v, event.iteration)
            if event.group == "val":
                if event.extra.get("best") is not None:
                    self.tb.add_scalar(f"val/best_{event.extra['best_metric']}", event.extra["best"], event.iteration)
                self.tb.flush()
        elif isinstance(event, Image):
            self.tb.add_image(event.name, event.pixels, event.iteration, dataformats="HWC")

    def close(self, outcome: str) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def tensorboard_writer(work_dir: Path) -> TensorBoardWriter | None:
    """The writer, or None when TensorBoard is not installed (it is optional)."""
    try:
        return TensorBoardWriter(work_dir)
    except ImportError:
        return None
