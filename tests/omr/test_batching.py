"""The dynamic batcher: batches across callers, bounded queue, cancelled staves never run.

The model here is a plain function that records the batches it is given (the batcher's
contract is about scheduling, not recognition).
"""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import numpy as np
import pytest

from omr_server.batching import DynamicBatcher
from omr_server.errors import OmrError
from omr_server.service import grpc_code


class RecordingModel:
    def __init__(self, seconds_per_batch: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.seconds_per_batch = seconds_per_batch
        self.release = threading.Event()
        self.release.set()

    def __call__(self, images: list[np.ndarray]) -> list[int]:
        self.release.wait()
        time.sleep(self.seconds_per_batch)
        ids = [int(image[0, 0]) for image in images]
        self.batches.append(ids)
        return [i * 10 for i in ids]


def _images(*ids: int) -> list[np.ndarray]:
    return [np.full((4, 4), i, np.float32) for i in ids]


async def test_concurrent_pages_share_batches_and_keep_their_order() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, max_batch_size=8, max_queue_delay_s=0.05, max_queued=100)
    batcher.start()
    try:
        results = await asyncio.gather(
            batcher.submit(_images(1, 2, 3, 4, 5)),
            batcher.submit(_images(6, 7, 8, 9, 10)),
            batcher.submit(_images(11, 12)),
        )
    finally:
        await batcher.stop()
    assert results == [[10, 20, 30, 40, 50], [60, 70, 80, 90, 100], [110, 120]]
    assert [len(batch) for batch in model.batches] == [8, 4]  # 12 staves from 3 callers
    assert batcher.stats.mean_batch_size == 6


async def test_a_lone_staff_waits_no_longer_than_the_queue_delay() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, max_batch_size=8, max_queue_delay_s=0.02, max_queued=100)
    batcher.start()
    try:
        started = time.perf_counter()
        assert await batcher.submit(_images(3)) == [30]
        assert time.perf_counter() - started < 0.5
    finally:
        await batcher.stop()


async def test_full_queue_is_refused_with_resource_exhausted() -> None:
    model = RecordingModel()
    model.release.clear()  # the model is busy: nothing leaves the queue
    batcher = DynamicBatcher(model, max_batch_size=2, max_queue_delay_s=0.0, max_queued=4)
    batcher.start()
    try:
        first = asyncio.create_task(batcher.submit(_images(1, 2)))  # taken by the worker, blocked
        await asyncio.sleep(0.05)
        second = asyncio.create_task(batcher.submit(_images(3, 4, 5, 6)))  # fills the queue
        await asyncio.sleep(0.01)
        with pytest.raises(OmrError) as caught:
            await batcher.submit(_images(7))
        assert grpc_code(caught.value) == grpc.StatusCode.RESOURCE_EXHAUSTED
        model.release.set()
        assert await first == [10, 20] and await second == [30, 40, 50, 60]
    finally:
        model.release.set()
        await batcher.stop()


async def test_cancelled_callers_staves_are_never_inferred() -> None:
    model = RecordingModel()
    model.release.clear()
    batcher = DynamicBatcher(model, max_batch_size=2, max_queue_delay_s=0.0, max_queued=100)
    batcher.start()
    try:
        busy = asyncio.create_task(batcher.submit(_images(1, 2)))
        await asyncio.sleep(0.05)
        doomed = asyncio.create_task(batcher.submit(_images(3, 4, 5, 6)))
        await asyncio.sleep(0.01)
        doomed.cancel()
        await asyncio.gather(doomed, return_exceptions=True)
        model.release.set()
        assert await busy == [10, 20]
        assert await batcher.submit(_images(7)) == [70]
    finally:
        model.release.set()
        await batcher.stop()
    assert [i for batch in model.batches for i in batch] == [1, 2, 7]


async def test_a_model_failure_reaches_every_caller_of_the_batch() -> None:
    def broken(images: list[np.ndarray]) -> list[int]:
        raise RuntimeError("onnxruntime exploded")

    batcher = DynamicBatcher(broken, max_batch_size=4, max_queue_delay_s=0.01, max_queued=10)
    batcher.start()
    try:
        outcomes = await asyncio.gather(
            batcher.submit(_images(1)), batcher.submit(_images(2)), return_exceptions=True
        )
    finally:
        await batcher.stop()
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
