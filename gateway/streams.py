"""Caps on concurrent watch streams (SSE and WatchJob): each open stream holds a slot of its job
and of its owner, so one client cannot open hundreds of streams and starve the event loop."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

from gateway.errors import TooManyRequestsError


class StreamLimiter:
    def __init__(self, *, per_job: int, per_owner: int) -> None:
        self.per_job = per_job
        self.per_owner = per_owner
        self._jobs: Counter[str] = Counter()
        self._owners: Counter[str] = Counter()

    def acquire(self, owner: str, job_id: str) -> None:
        """Takes a slot or raises TooManyRequestsError (429 / RESOURCE_EXHAUSTED) at once."""
        if self._jobs[job_id] >= self.per_job:
            raise TooManyRequestsError(
                f"{self.per_job} streams are already watching this job; close one first",
                reason="TOO_MANY_STREAMS",
                field="job_id",
            )
        if self._owners[owner] >= self.per_owner:
            raise TooManyRequestsError(
                f"this token already has {self.per_owner} open watch streams; close one first",
                reason="TOO_MANY_STREAMS",
            )
        self._jobs[job_id] += 1
        self._owners[owner] += 1

    def release(self, owner: str, job_id: str) -> None:
        for counter, key in ((self._jobs, job_id), (self._owners, owner)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    @contextlib.contextmanager
    def slot(self, owner: str, job_id: str) -> Iterator[None]:
        self.acquire(owner, job_id)
        try:
            yield
        finally:
            self.release(owner, job_id)

    def open_streams(self, owner: str) -> int:
        return self._owners[owner]
