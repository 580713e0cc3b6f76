"""Dynamic batching of staff images for the recognition model (like Triton's dynamic batcher).

Callers submit the staves of one page and await their readings; a worker gathers queued staves
from every page and request into batches of at most `max_batch_size`, waiting at most
`max_queue_delay` for a batch to fill once its first staff is queued, and runs the model in a
thread so the event loop keeps streaming. The queue is bounded: a submission that would
overflow it is refused at once (back-pressure, `Busy`) rather than queued for long; one larger
than the whole queue could never fit and is refused as `LimitExceeded`, not as busy.
A cancelled caller's staves are dropped before they reach the model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from omr_server import metrics
from omr_server.errors import busy, over_limit

Result = TypeVar("Result")


@dataclass
class _Item(Generic[Result]):
    image: np.ndarray
    future: asyncio.Future[Result]
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    batches: int = 0
    staves: int = 0

    @property
    def mean_batch_size(self) -> float:
        return self.staves / self.batches if self.batches else 0.0


class DynamicBatcher(Generic[Result]):
    def __init__(
        self,
        infer: Callable[[list[np.ndarray]], list[Result]],
        *,
        max_batch_size: int,
        max_queue_delay_s: float,
        max_queued: int,
        workers: int = 1,
    ) -> None:
        self._infer = infer
        self.max_batch_size = max_batch_size
        self.max_queue_delay_s = max_queue_delay_s
        self.max_queued = max_queued
        self._workers = workers
        self._queue: asyncio.Queue[_Item[Result]] = asyncio.Queue()
        self._queued = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="omr-infer")
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = BatchStats()

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(), name=f"batcher-{i}") for i in range(self._workers)
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._executor.shutdown(wait=True, cancel_futures=True)

    @property
    def queued(self) -> int:
        return self._queued

    async def submit(self, images: Sequence[np.ndarray]) -> list[Result]:
        """Readings for `images`, in order. Raises Busy when the queue is full, LimitExceeded
        when `images` alone are more than it holds."""
        if not images:
            return []
        if not self._tasks:
            raise RuntimeError("DynamicBatcher.start() was not called")
        if len(images) > self.max_queued:
            raise over_limit(
                "TOO_MANY_STAVES",
                f"{len(images)} staves at once are more than the model queue holds ({self.max_queued})",
                staves=str(len(images)),
                limit=str(self.max_queued),
            )
        if self._queued + len(images) > self.max_queued:
            raise busy(
                "INFERENCE_QUEUE_FULL",
                f"the server is busy: {self._queued} staves are waiting for the model "
                f"(limit {self.max_queued}); retry later",
                queued=str(self._queued),
            )
        loop = asyncio.get_running_loop()
        items = [_Item[Result](image, loop.create_future()) for image in images]
        for item in items:
            self._queue.put_nowait(item)
        self._queued += len(items)
        metrics.QUEUED_STAVES.set(self._queued)
        try:
            return list(await asyncio.gather(*(item.future for item in items)))
        finally:
            for item in items:
                item.future.cancel()  # no-op when done; drops our staves still queued

    async def _next_batch(self) -> list[_Item[Result]]:
        batch = [await self._take()]
        deadline = time.perf_counter() + self.max_queue_delay_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._take_nowait())
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            # asyncio.wait (unlike wait_for on 3.11) never loses an item taken as the timeout fires.
            getter = asyncio.ensure_future(self._queue.get())
            done, _ = await asyncio.wait({getter}, timeout=remaining)
            if getter in done:
                self._dequeued()
                batch.append(getter.result())
            else:
                getter.cancel()
                break
        return [item for item in batch if not item.future.done()]

    async def _take(self) -> _Item[Result]:
        item = await self._queue.get()
        self._dequeued()
        return item

    def _take_nowait(self) -> _Item[Result]:
        item = self._queue.get_nowait()
        self._dequeued()
        return item

    def _dequeued(self) -> None:
        self._queued -= 1
        metrics.QUEUED_STAVES.set(self._queued)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            started = time.perf_counter()
            for item in batch:
                metrics.QUEUE_SECONDS.observe(started - item.queued_at)
            try:
                results = await loop.run_in_executor(self._executor, self._infer, [i.image for i in batch])
            except Exception as error:  # the model failed: every caller in the batch hears why
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            metrics.INFER_SECONDS.observe(time.perf_counter() - started)
            metrics.BATCH_SIZE.observe(len(batch))
            self.stats.batches += 1
            self.stats.staves += len(batch)
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)
