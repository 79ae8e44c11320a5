"""The bounded queue in front of the model and the one thread that runs it.

Every request holds a slot from admission (before its body is read) until its reply is built, so
``capacity`` bounds the memory of all requests together; with no slot free the server answers 503
at once. Images prepared by the shared runner (``predict.loop.make_runner``: tiles and test-time
augmentation as ``gnrcnn predict`` does them) wait in order; one inference thread takes the oldest
and, with ``max_batch`` > 1, the other waiting images of the same padded input sizes, and hands them
to the runner's ``run``. Equal padded sizes give each image exactly the padding it gets alone, so
GroupNorm's statistics and the detections do not change with batching. All bookkeeping runs on the
event loop's thread: no locks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from ..data.preprocess import pad_shape
from ..predict.runner import Prepared, Runner
from ..structures import Instances


@dataclass(eq=False)
class Job:
    """One decoded image on its way through the model; times are ``time.monotonic()`` seconds."""

    prepared: Prepared  # the image resized for the model (each view, each tile)
    key: tuple[tuple[int, int], ...]  # the padded network inputs (h, w): only equal keys share a batch
    deadline: float
    future: asyncio.Future = field(repr=False)
    queued: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    batch_size: int = 0
    state: str = "waiting"  # waiting -> running -> done
    abandoned: bool = False  # answered 504 while running: its slot is freed when the batch ends


class InferenceQueue:
    """``admit()`` a request, ``await infer(job)`` its detections, ``finish(job)`` when replied."""

    def __init__(self, runner: Runner, *, capacity: int, max_batch: int = 1) -> None:
        self.runner = runner
        self.capacity = capacity
        self.max_batch = max_batch
        self.admitted = 0  # requests holding a slot
        self.waiting: deque[Job] = deque()
        self.running = 0
        self.served = 0
        self.seconds_per_image = 0.0  # moving average of the network's time, for Retry-After
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="gnrcnn-infer")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    def admit(self) -> bool:
        if self.admitted >= self.capacity:
            return False
        self.admitted += 1
        return True

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the admitted requests at the measured speed."""
        per_image = self.seconds_per_image or 1.0
        return max(1, min(300, math.ceil(per_image * self.admitted / self.max_batch)))

    def job(self, prepared: Prepared, deadline: float) -> Job:
        divisor = self.runner.views.detector.cfg.input.size_divisor
        key = tuple(pad_shape(tuple(t.shape[1:]), divisor) for t in prepared.tensors)
        return Job(prepared, key, deadline, asyncio.get_running_loop().create_future())

    async def infer(self, job: Job) -> Instances:
        """The job's detections (on the CPU); ``TimeoutError`` at its deadline."""
        job.queued = time.monotonic()
        self.waiting.append(job)
        self._wake.set()
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), max(0.0, job.deadline - job.queued))
        except asyncio.TimeoutError:
            if job.state == "waiting":
                self.waiting.remove(job)
            raise

    def finish(self, job: Job | None) -> None:
        """The request is answered: free its slot, or leave that to the batch it is still running in."""
        if job is not None and job.state == "running":
            job.abandoned = True
        else:
            self.admitted -= 1

    def _take(self) -> list[Job]:
        first = self.waiting.popleft()
        batch = [first]
        for job in list(self.waiting):
            if len(batch) == self.max_batch:
                break
            if job.key == first.key:
                self.waiting.remove(job)
                batch.append(job)
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self.waiting:
                self._wake.clear()
                await self._wake.wait()
            batch = self._take()
            start = time.monotonic()
            for job in batch:
                job.state, job.started, job.batch_size = "running", start, len(batch)
            self.running = len(batch)
            try:
                results = await loop.run_in_executor(self._executor, self._run, [j.prepared for j in batch])
            except Exception as e:  # a failure of the model (out of memory, ...) fails its requests only
                for job in batch:
                    if not job.abandoned:  # nobody would read it
                        job.future.set_exception(e)
            else:
                for job, inst in zip(batch, results):
                    job.future.set_result(inst)
            self._account(batch, time.monotonic() - start)

    def _account(self, batch: list[Job], seconds: float) -> None:
        per_image = seconds / len(batch)
        self.seconds_per_image = per_image if not self.served else 0.8 * self.seconds_per_image + 0.2 * per_image
        self.served += len(batch)
        self.running = 0
        for job in batch:
            job.state, job.finished = "done", time.monotonic()
            if job.abandoned:
                self.admitted -= 1

    def _run(self, items: list[Prepared]) -> list[Instances]:
        with torch.inference_mode():
            results = self.runner.run(items)
        return [(r if isinstance(r, Instances) else r.dense()).to("cpu") for r in results]  # tiles: full masks
