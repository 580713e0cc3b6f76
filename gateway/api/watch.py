"""The event stream behind WatchJob and GET /v1/jobs/{id}/events: the job's current state
first, then every state change and page stored, in time order, until the job ends.

Changes made in this process wake the stream at once; changes made by other gateway processes
are picked up by polling the database every `poll_seconds`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from etude.jobs.v1 import job_service_pb2 as jobs_pb2

from gateway.errors import InvalidArgumentError
from gateway.events import JobEvents
from gateway.jobs.records import transition_to_proto
from gateway.jobs.repository import JobRepository

_CURSOR = re.compile(r"([0-9]{1,18})\.([0-9]{1,9})")


@dataclass(frozen=True)
class Cursor:
    """What a client has seen: the last transition id and how many pages. Serialised as the SSE
    event id so a reconnecting client (Last-Event-ID) is not sent the same events again."""

    transition_id: int = 0
    pages: int = 0

    def __str__(self) -> str:
        return f"{self.transition_id}.{self.pages}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """None when absent; a cursor only from exactly the form this service writes (two
        non-negative ASCII integers), anything else (`9.-5`, `1_0.2`, ` 3.4`) is a bad request."""
        if not text:
            return None
        match = _CURSOR.fullmatch(text)
        if match is None:
            raise InvalidArgumentError(
                "Last-Event-ID must be an event id this service sent (<transition>.<pages>)",
                reason="BAD_LAST_EVENT_ID",
                field="Last-Event-ID",
            )
        return cls(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class WatchEvent:
    response: jobs_pb2.WatchJobResponse
    cursor: Cursor

    @property
    def kind(self) -> str:
        return self.response.WhichOneof("event") or "job"


async def watch_job(
    repo: JobRepository,
    events: JobEvents,
    owner: str,
    job_id: str,
    *,
    poll_seconds: float,
    resume: Cursor | None = None,
) -> AsyncIterator[WatchEvent]:
    view = await repo.get(owner, job_id)
    pages = await repo.page_indexes(job_id)
    if resume is None:
        cursor = Cursor(max((t["id"] for t in view.transitions), default=0), len(pages))
        yield WatchEvent(jobs_pb2.WatchJobResponse(job=view.to_proto()), cursor)
    else:
        cursor = resume
    while True:
        job = view.to_proto()
        news: list[tuple[object, jobs_pb2.WatchJobResponse, Cursor]] = []
        for row in view.transitions:
            if row["id"] > cursor.transition_id:
                response = jobs_pb2.WatchJobResponse(job=job, transition=transition_to_proto(row))
                news.append((row["time"], response, Cursor(row["id"], 0)))
        for n, (index, time) in enumerate(pages[cursor.pages :], start=cursor.pages + 1):
            progress = jobs_pb2.PageProgress(page_index=index, pages_done=n, page_count=job.page_count)
            news.append((time, jobs_pb2.WatchJobResponse(job=job, page=progress), Cursor(0, n)))
        # Merge by time, carrying both counters forward so every event's cursor is complete.
        seen_t, seen_p = cursor.transition_id, cursor.pages
        for _, response, step in sorted(news, key=lambda item: item[0]):  # type: ignore[arg-type,return-value]
            seen_t = max(seen_t, step.transition_id)
            seen_p = max(seen_p, step.pages)
            cursor = Cursor(seen_t, seen_p)
            yield WatchEvent(response, cursor)
        if view.state.terminal:
            return
        await events.wait_job(job_id, poll_seconds)
        view = await repo.get(owner, job_id)
        pages = await repo.page_indexes(job_id)
