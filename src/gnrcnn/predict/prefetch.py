"""Work that runs ahead of the model (decoding, resizing) or behind it (drawing, encoding, writing)
in threads, through bounded queues.

That work is OpenCV, torchvision's decoders and torch ops, which release the GIL, so in threads it
overlaps the model's own. Every queue is bounded: at most ``depth`` items are in flight however
long the input, so memory stays flat. ``workers=0`` / ``threaded=False`` runs everything in the
calling thread, in the same order (what "prefetching off" means in the benchmarks).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from ..errors import GnrcnnError

T = TypeVar("T")
R = TypeVar("R")
_END = object()
_POLL_S = 0.1


def _call(fn: Callable[[T], R], item: T) -> tuple[R | None, GnrcnnError | None]:
    try:
        return fn(item), None
    except GnrcnnError as e:
        return None, e


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int = 2, depth: int = 8
) -> Iterator[tuple[T, R | None, GnrcnnError | None]]:
    """``(item, fn(item), None)`` or ``(item, None, error)`` for each item, in input order.

    ``fn`` runs in ``workers`` threads at most ``depth`` items ahead of the consumer. A
    ``GnrcnnError`` (a bad file) is that item's result, for the caller to report and go on; any
    other exception is raised here. Closing the iterator early cancels what has not started.
    """
    if workers <= 0:
        for item in items:
            yield item, *_call(fn, item)
        return
    it = iter(items)
    pending: collections.deque[tuple[T, Future]] = collections.deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="gnrcnn-load") as pool:
        try:
            for item in itertools.islice(it, max(depth, 1)):
                pending.append((item, pool.submit(_call, fn, item)))
            while pending:
                item, future = pending.popleft()
                for nxt in itertools.islice(it, 1):
                    pending.append((nxt, pool.submit(_call, fn, nxt)))
                yield item, *future.result()
        finally:
            for _, future in pending:
                future.cancel()


class Background(Generic[T]):
    """Iterate ``source`` in a thread, ``depth`` items ahead: ``for x in Background(frames(), 4)``.

    For sequential sources (a video decoder) that one thread must read in order. An exception in
    the source is raised in the consumer, at the point the source raised it. ``close()`` (or the
    ``with`` block's end) stops the thread and closes the source.
    """

    def __init__(self, source: Iterator[T], depth: int = 4) -> None:
        self.source = source
        self.queue: queue.Queue[Any] = queue.Queue(max(depth, 1))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gnrcnn-reader", daemon=True)
        self.thread.start()

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self.source:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as e:  # handed to the consumer, raised there
            self._put(_Raised(e))
        finally:
            close = getattr(self.source, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()

    def __enter__(self) -> Background[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Sink(Generic[T]):
    """``fn(item)`` for each ``put`` item in one thread behind the caller, in order, ``depth`` items
    at most waiting. ``close()`` waits for the queue to drain and raises what ``fn`` raised; an
    error in ``fn`` stops the sink and is raised by the next ``put`` too."""

    def __init__(self, fn: Callable[[T], None], depth: int = 4, threaded: bool = True) -> None:
        self.fn = fn
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        if threaded:
            self.queue: queue.Queue[Any] = queue.Queue(max(depth, 1))
            self.thread = threading.Thread(target=self._run, name="gnrcnn-writer", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not _END:
            if self.error is None:
                try:
                    self.fn(item)
                except BaseException as e:  # raised in the caller by put() or close()
                    self.error = e

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def put(self, item: T) -> None:
        if self.thread is None:
            self.fn(item)
            return
        self._raise()
        self.queue.put(item)

    def close(self) -> None:
        """Everything put so far written; the first error of ``fn``, if any, raised."""
        if self.thread is not None and self.thread.is_alive():
            self.queue.put(_END)
            self.thread.join()
        self._raise()

    def __enter__(self) -> Sink[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """On the way out of an error, what was put is still written; that error is the one raised."""
        if exc_type is None:
            self.close()
            return
        with contextlib.suppress(Exception):  # the exception already propagating says more
            self.close()
