"""Progress bars that suit where the output goes: tqdm's live bar on a terminal, whole plain lines elsewhere.

In a log file (CI, ``tee``, ``nohup``, a cluster's job output) a live bar leaves carriage returns, escape codes
and a second copy of its last state with another rate. There a bar prints one line every
``GNRCNN_PROGRESS_EVERY`` seconds (default 30) and one at the end, each with rate and ETA, and nothing at start,
so a header printed just after the bar is made still comes first.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm


def progress(iterable: Iterable[Any] | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)`` on a terminal, a ``LineProgress`` otherwise (stderr unless ``file`` says)."""
    file = kwargs.setdefault("file", sys.stderr)
    if _is_terminal(file):
        return tqdm(iterable, **kwargs)
    return LineProgress(iterable, every=float(os.environ.get("GNRCNN_PROGRESS_EVERY", "30")), **kwargs)


def _is_terminal(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


class LineProgress(tqdm):
    """tqdm that writes whole lines: one at most every ``every`` seconds while it runs and one when it ends."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, every: float = 30.0, **kwargs: Any) -> None:
        self._every, self._last_line_t, self._ended = every, time.monotonic(), False
        kwargs.pop("dynamic_ncols", None)
        kwargs.update(mininterval=min(every, kwargs.get("mininterval", every)), delay=every, ascii=True, ncols=0)
        kwargs.setdefault("bar_format", "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, "
                                        "{rate_fmt}{postfix}]" if kwargs.get("total") or _has_len(iterable)
                          else "{desc}: {n_fmt} [{elapsed}, {rate_fmt}{postfix}]")  # fmt: skip
        super().__init__(iterable, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # tqdm clearing a bar drawn in place: nothing was
            return False
        now = time.monotonic()
        finished = self.total is not None and self.n >= self.total  # close() writes that line, once
        if now - self._last_line_t >= self._every and not finished:
            self._line(msg if msg is not None else str(self))
            self._last_line_t = now
        return True

    def clear(self, nolock: bool = False) -> None:  # tqdm.write clears bars around a message: lines need no clearing
        return

    def moveto(self, n: int) -> None:  # nested bars move the cursor with escape codes; lines stay in order
        return

    def close(self) -> None:
        if not self.disable and not self._ended:
            self._ended = True
            self._ema_dt = lambda: None  # the final line shows the average rate, as tqdm's final bar does
            self._line(str(self))
        self.leave = False
        super().close()

    def _line(self, text: str) -> None:
        self.fp.write(text.strip() + "\n")
        self.fp.flush()


def _has_len(iterable: Iterable[Any] | None) -> bool:
    return iterable is not None and hasattr(iterable, "__len__")
