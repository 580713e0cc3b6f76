"""In-process wake-ups: a job changed (for watchers, and for the worker holding it) or new work
arrived (for idle workers). Other processes' changes are seen by polling the database."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict


class JobEvents:
    def __init__(self) -> None:
        self._watchers: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._work = asyncio.Event()

    def job_changed(self, job_id: str) -> None:
        for event in self._watchers.get(job_id, ()):
            event.set()

    async def wait_job(self, job_id: str, timeout: float) -> None:
        """Returns when the job changes in this process, or after `timeout` seconds."""
        event = asyncio.Event()
        self._watchers[job_id].add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            self._watchers[job_id].discard(event)
            if not self._watchers[job_id]:
                del self._watchers[job_id]

    def work_arrived(self) -> None:
        self._work.set()

    async def wait_work(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), timeout)
        self._work.clear()
