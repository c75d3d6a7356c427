"""Micro-batching: requests that arrive together are answered by one forward pass.

Each request waits in a bounded queue; one worker takes everything waiting (up to `max_batch`
sentences, after waiting at most `wait_seconds` for more) and runs it in a thread of its own,
so the event loop keeps accepting and queueing while the model works. The queue counts
sentences, not requests, and refuses a request that would overflow it: memory and waiting
time stay bounded under any load.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


class Overloaded(Exception):
    """The queue is full: answer 503 and let the client retry."""


@dataclass
class _Job:
    payload: object
    size: int
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """`run(payloads) -> results` (one result per payload, in order) is called in a worker
    thread with the payloads of one batch; `on_batch(sentences)` and `on_depth(sentences)`
    report batch sizes and queue depth (for metrics)."""

    def __init__(self, run: Callable[[list], list], max_batch: int, wait_seconds: float,
                 capacity: int, on_batch: Callable[[int], None] = lambda n: None,
                 on_depth: Callable[[int], None] = lambda n: None):
        self._run = run
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        self.capacity = capacity
        self._on_batch = on_batch
        self._on_depth = on_depth
        self._jobs: deque[_Job] = deque()
        self.depth = 0  # sentences waiting, not yet taken into a batch
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textrnn-model")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def close(self) -> None:
        """Stop the worker (after the server has drained its requests)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, payload, size: int):
        """The result for `payload` (`size` sentences), once its batch has run."""
        if self.depth + size > self.capacity:
            raise Overloaded(f"queue full ({self.depth} of {self.capacity} sentences waiting)")
        job = _Job(payload, size, asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        self._set_depth(self.depth + size)
        self._arrived.set()
        if self.depth >= self.max_batch:
            self._full.set()
        return await job.future

    def _set_depth(self, depth: int) -> None:
        self.depth = depth
        self._on_depth(depth)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            if self.wait_seconds > 0 and self.depth < self.max_batch:
                try:
                    await asyncio.wait_for(self._full.wait(), self.wait_seconds)
                except asyncio.TimeoutError:
                    pass
            batch = self._take()
            if not batch:
                continue
            self._on_batch(sum(job.size for job in batch))
            try:
                results = await loop.run_in_executor(self._executor, self._run,
                                                     [job.payload for job in batch])
            except Exception as error:  # a bug: every request of the batch gets it
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(error)
                continue
            for job, result in zip(batch, results):
                if not job.future.done():  # its client may have gone away
                    job.future.set_result(result)

    def _take(self) -> list[_Job]:
        """The waiting jobs, oldest first, up to max_batch sentences (always at least one)."""
        batch: list[_Job] = []
        taken = 0
        while self._jobs and (not batch or taken + self._jobs[0].size <= self.max_batch):
            job = self._jobs.popleft()
            self._set_depth(self.depth - job.size)
            if job.future.done():  # cancelled while waiting
                continue
            batch.append(job)
            taken += job.size
        if not self._jobs:
            self._arrived.clear()
        if self.depth < self.max_batch:
            self._full.clear()
        return batch
