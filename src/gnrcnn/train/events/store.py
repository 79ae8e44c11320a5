"""One event store for a training run: hooks put what happened, writers show or keep it.

Hooks (the loop's own and a user's) call ``put_scalars``, ``put_image``, ``put_record``, ``message``
and ``put_artifact``; every writer (``metrics.jsonl``, the console, TensorBoard, MLflow: ``writers.py``)
receives every event and takes what it shows. Metrics are thus written once, in one place, however many
writers there are (detectron2's ``EventStorage`` with its JSON, TensorBoard and console writers).

Only the main process has writers; on the other ranks of a torchrun group the store drops what it is
given (their hooks still run, for the collectives they take part in).

The scalar groups the loop puts: ``iter`` (this process's losses and lr after every iteration),
``train`` (every ``train.log_every`` iterations: the losses averaged over those iterations and over
the ranks, lr, seconds per iteration, data time, ETA, peak memory) and ``val`` (one evaluation: the
flattened COCO metrics, with the best-so-far in ``extra``). A user's hook picks a group of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torchvision.io import encode_png

from ...fileio import write_bytes_atomic

OUTCOMES = ("finished", "paused", "interrupted", "failed")  # how a run ended: what writers are closed with


@dataclass(frozen=True)
class Scalars:
    iteration: int
    group: str  # "iter", "train", "val" or a user's own
    values: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)  # non-metric context (the best-so-far of "val")


@dataclass(frozen=True)
class Image:
    iteration: int
    name: str
    path: Path  # the PNG, written once by the store (work_dir/images/<name>/iter_<n>.png)
    pixels: np.ndarray  # H x W x 3 uint8, RGB


@dataclass(frozen=True)
class Record:
    iteration: int
    key: str  # "data": what the run trains on (train/data_summary.py)
    value: Any  # plain JSON data


@dataclass(frozen=True)
class Message:
    text: str


@dataclass(frozen=True)
class Artifact:
    path: Path  # a file the run produced (model_final.pth, best.pth, loss_curve.png)


Event = Scalars | Image | Record | Message | Artifact


class Writer(Protocol):
    name: str

    def open(self, start: int) -> None: ...  # the run starts (or resumes) at iteration ``start``

    def write(self, event: Event) -> None: ...

    def close(self, outcome: str) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class EventStore:
    """``EventStore(work_dir, writers)``; ``iteration`` is the trainer's (events without one take it)."""

    def __init__(self, work_dir: Path, writers: list[Writer]) -> None:
        self.work, self.writers, self.iteration = work_dir, writers, 0

    def open(self, start: int) -> None:
        self.iteration = start
        for w in self.writers:
            w.open(start)

    def _put(self, event: Event) -> None:
        for w in self.writers:
            w.write(event)

    def put_scalars(self, values: dict[str, float], group: str = "user", iteration: int | None = None,
                    **extra: Any) -> None:  # fmt: skip
        """Scalars by name (``{"loss": 0.4}``) in a group (``val``, ``my_metrics``, ...)."""
        it = self.iteration if iteration is None else iteration
        self._put(Scalars(it, group, {k: float(v) for k, v in values.items()}, extra))

    def put_scalar(self, name: str, value: float, group: str = "user", iteration: int | None = None) -> None:
        self.put_scalars({name: value}, group, iteration)

    def put_image(self, name: str, image: np.ndarray | torch.Tensor, iteration: int | None = None) -> Path | None:
        """An H x W x 3 (or 3 x H x W) uint8 RGB picture: saved as ``images/<name>/iter_<n>.png`` in the work
        folder and handed to every writer; returns its path (None on a rank without writers)."""
        if not self.writers:
            return None
        it = self.iteration if iteration is None else iteration
        pixels = torch.as_tensor(np.ascontiguousarray(image) if isinstance(image, np.ndarray) else image).cpu()
        if pixels.ndim != 3 or pixels.dtype != torch.uint8 or 3 not in (pixels.shape[0], pixels.shape[-1]):
            raise ValueError(f"put_image('{name}'): an H x W x 3 uint8 RGB image, not {tuple(pixels.shape)} "
                             f"{pixels.dtype}")  # fmt: skip
        chw = pixels if pixels.shape[0] == 3 and pixels.shape[-1] != 3 else pixels.permute(2, 0, 1)
        path = self.work / "images" / name / f"iter_{it:08d}.png"
        write_bytes_atomic(encode_png(chw.contiguous()).numpy().tobytes(), path, "picture", sync=False)
        self._put(Image(it, name, path, chw.permute(1, 2, 0).numpy()))
        return path

    def put_record(self, key: str, value: Any, iteration: int | None = None) -> None:
        self._put(Record(self.iteration if iteration is None else iteration, key, value))

    def message(self, text: str) -> None:
        """A line for the person watching (the console writer prints it above the progress bar)."""
        self._put(Message(text))

    def put_artifact(self, path: Path) -> None:
        self._put(Artifact(Path(path)))

    def close(self, outcome: str) -> None:
        """Every writer is closed, also when one of them fails; the first failure is raised after."""
        error: BaseException | None = None
        for w in self.writers:
            try:
                w.close(outcome)
            except Exception as e:
                error = error or e
        if error is not None:
            raise error

    def state_dict(self) -> dict[str, Any]:
        """The writers' own state (the MLflow run to continue), saved in every training checkpoint."""
        return {w.name: s for w in self.writers if (s := w.state_dict())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for w in self.writers:
            if w.name in state:
                w.load_state_dict(state[w.name])
