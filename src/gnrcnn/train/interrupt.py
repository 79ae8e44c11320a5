"""Stopping a run on SIGTERM or SIGINT without losing work: a cluster's pre-emption notice, Ctrl-C, ``kill``.

The handler only records the signal. The trainer finishes the iteration in flight, writes an atomic
checkpoint and raises ``TrainingInterruptedError``, which the command turns into one line and exit status
128 + the signal's number (143 for SIGTERM, 130 for SIGINT). ``--resume`` then continues to the same final
weights as a run that never stopped. A second signal while the checkpoint is written stops at once, as the
default handler would.
Under torchrun every rank receives the signal; the ranks agree on it after each step (one all-reduce of a
flag), so all of them stop at the same iteration.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

import torch

from .. import distributed as dist
from ..errors import GnrcnnError

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterruptedError(GnrcnnError):
    """Training stopped by a signal, with a checkpoint to resume from; ``exit_code`` is 128 + the signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class StopSignals:
    """``with StopSignals() as stop: ... if stop.requested(device): ...``: SIGTERM and SIGINT are recorded
    instead of killing the process (only in the main thread, where Python delivers signals)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._record)
        return self

    def restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.restore()

    def _record(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second one: the user means now
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        self.signum = signum

    def requested(self, device: torch.device) -> bool:
        """Whether any rank got a signal (a collective under torchrun: every rank calls it after each step)."""
        if dist.world()[1] > 1:
            flag = torch.tensor([0 if self.signum is None else self.signum], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            self.signum = int(flag.item()) or None
        return self.signum is not None

    def error(self, iteration: int, total: int, checkpoint: object) -> TrainingInterruptedError:
        name = signal.Signals(self.signum or signal.SIGTERM).name
        text = (f"stopped by {name} after iteration {iteration} of {total}; checkpoint {checkpoint}: run the same "
                "command with --resume to continue")  # fmt: skip
        return TrainingInterruptedError(text, self.signum or signal.SIGTERM)
