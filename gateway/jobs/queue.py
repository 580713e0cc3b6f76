"""The jobs table as a queue: claiming due jobs under a lease, and fenced writes by the holder.

A claim bumps `lease_token`; every later write by that worker names the token and requires
state OMR_PROCESSING, so a worker whose lease expired (and was re-claimed) or whose job was
cancelled changes nothing: its write matches no row and raises LeaseLostError.
On Postgres, claiming uses FOR UPDATE SKIP LOCKED so many workers in many processes can
claim concurrently; on SQLite the compare-and-set on lease_token alone keeps it correct.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.jobs.records import JobState, sources_of
from gateway.jobs.repository import change_state
from storage.artifacts import Blob, record_artifact, record_lineage
from storage.tables import artifacts, job_pages, jobs, utcnow


class LeaseLostError(Exception):
    """The job is no longer ours: the lease was taken over, or the job was cancelled."""


@dataclass(frozen=True)
class Lease:
    job_id: str
    token: int
    attempt: int
    worker_id: str


@dataclass(frozen=True)
class Header:
    page_count: int
    pages_to_read: int
    dpi: int
    model: dict[str, str]
    service_version: str
    # Title, composer and tempo text the document states (the header's IR Metadata, as JSON).
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def model_key(self) -> str:
        return f"{self.model.get('name', '')}@{self.model.get('version', '')}#{self.model.get('sha256', '')}"


class JobQueue:
    def __init__(self, engine: AsyncEngine, *, lease_seconds: float, max_attempts: int) -> None:
        self.engine = engine
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts

    async def claim(self, worker_id: str) -> Lease | None:
        """Takes the oldest due job: PENDING and due, or OMR_PROCESSING with an expired lease."""
        for _ in range(5):  # a few tries when another worker wins the compare-and-set
            try:
                async with self.engine.begin() as connection:
                    outcome = await self._claim_one(connection, worker_id)
            except OperationalError as error:
                if "locked" in str(error).lower():  # SQLite: another process holds the write lock
                    return None
                raise
            if outcome != "retry":
                return outcome if isinstance(outcome, Lease) else None
        return None

    async def _claim_one(self, connection: AsyncConnection, worker_id: str) -> Lease | str | None:
        now = utcnow()
        # A claim starts from any state the machine lets become OMR_PROCESSING, each with its own
        # notion of "due": PENDING once its retry time has come, OMR_PROCESSING once its lease expired.
        due_when = {
            JobState.PENDING: jobs.c.next_attempt_time <= now,
            JobState.OMR_PROCESSING: jobs.c.lease_expire_time < now,
        }
        due = or_(*(and_(jobs.c.state == s, due_when[s]) for s in sources_of(JobState.OMR_PROCESSING)))
        query = (
            select(jobs.c.id, jobs.c.state, jobs.c.lease_token, jobs.c.attempts, jobs.c.worker_id)
            .where(due)
            .order_by(jobs.c.next_attempt_time, jobs.c.id)
            .limit(1)
        )
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = (await connection.execute(query)).first()
        if row is None:
            return None
        state = JobState(row.state)
        expired = state is JobState.OMR_PROCESSING
        fence = [jobs.c.lease_token == row.lease_token]
        if row.attempts >= self.max_attempts:
            why = f"gave up after {row.attempts} attempts"
            if expired:
                why += f" (the lease of worker {row.worker_id} expired)"
            await change_state(
                connection,
                row.id,
                state,
                JobState.OMR_FAILED,
                why,
                now,
                fence=fence,
                last_error=why,
                lease_expire_time=None,
                lease_token=row.lease_token + 1,
            )
            return "retry"
        token = row.lease_token + 1
        reason = f"claimed by worker {worker_id} (attempt {row.attempts + 1})"
        if expired:
            reason += f" after the lease of worker {row.worker_id} expired"
        claimed = await change_state(
            connection,
            row.id,
            state,
            JobState.OMR_PROCESSING,
            reason,
            now,
            fence=fence,
            attempts=row.attempts + 1,
            lease_token=token,
            worker_id=worker_id,
            lease_expire_time=now + self.lease,
        )
        if not claimed:
            return "retry"
        return Lease(job_id=row.id, token=token, attempt=row.attempts + 1, worker_id=worker_id)

    async def _fenced(
        self,
        connection: AsyncConnection,
        lease: Lease,
        *,
        to: JobState | None = None,
        reason: str = "",
        **values: Any,
    ) -> None:
        """A write by the lease holder: only while it holds the lease and the job is OMR_PROCESSING.
        With `to`, it also moves the job to that state (when the machine allows) and records why."""
        now = utcnow()
        held = JobState.OMR_PROCESSING
        values = {"lease_expire_time": now + self.lease, **values}
        fence = [jobs.c.lease_token == lease.token]
        if to is None:
            changed = await connection.execute(
                update(jobs)
                .where(jobs.c.id == lease.job_id, jobs.c.state == held, *fence)
                .values(update_time=now, **values)
            )
            moved = changed.rowcount == 1
        else:
            moved = await change_state(connection, lease.job_id, held, to, reason, now, fence=fence, **values)
        if not moved:
            raise LeaseLostError(f"job {lease.job_id}: lease {lease.token} is no longer held")

    async def renew(self, lease: Lease) -> None:
        async with self.engine.begin() as connection:
            await self._fenced(connection, lease)

    async def job_row(self, job_id: str) -> dict[str, Any]:
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(jobs).where(jobs.c.id == job_id))).mappings().one()
            return dict(row)

    async def artifact_key(self, artifact_id: int) -> str:
        async with self.engine.connect() as connection:
            key = await connection.scalar(select(artifacts.c.key).where(artifacts.c.id == artifact_id))
            assert key is not None
            return str(key)

    async def stored_pages(self, job_id: str) -> dict[int, str]:
        """page index → object key of the stored fragment."""
        async with self.engine.connect() as connection:
            result = await connection.execute(
                select(job_pages.c.page_index, artifacts.c.key)
                .join(artifacts, artifacts.c.id == job_pages.c.artifact_id)
                .where(job_pages.c.job_id == job_id)
                .order_by(job_pages.c.page_index)
            )
            return {int(index): str(key) for index, key in result}

    async def record_header(self, lease: Lease, header: Header) -> None:
        async with self.engine.begin() as connection:
            await self._fenced(
                connection,
                lease,
                page_count=header.page_count,
                pages_to_read=header.pages_to_read,
                dpi=header.dpi,
                model_key=header.model_key,
                model_json=json.dumps(header.model, sort_keys=True),
                service_version=header.service_version,
                metadata_json=json.dumps(header.metadata, sort_keys=True),
            )

    async def record_page(self, lease: Lease, page_index: int, blob: Blob, header: Header) -> int:
        """Stores the row of an already-stored fragment; returns pages done. Fenced, and the
        (job, page) primary key makes a second copy of a page impossible."""
        async with self.engine.begin() as connection:
            await self._fenced(connection, lease)  # first: takes the row lock on Postgres
            artifact_id = await record_artifact(connection, blob)
            exists = await connection.scalar(
                select(func.count()).where(
                    job_pages.c.job_id == lease.job_id, job_pages.c.page_index == page_index
                )
            )
            if not exists:
                await connection.execute(
                    job_pages.insert().values(
                        job_id=lease.job_id,
                        page_index=page_index,
                        artifact_id=artifact_id,
                        attempt=lease.attempt,
                        create_time=utcnow(),
                    )
                )
            done = int(
                await connection.scalar(select(func.count()).where(job_pages.c.job_id == lease.job_id)) or 0
            )
            await connection.execute(update(jobs).where(jobs.c.id == lease.job_id).values(pages_done=done))
            pdf_artifact_id = await connection.scalar(
                select(jobs.c.pdf_artifact_id).where(jobs.c.id == lease.job_id)
            )
            await record_lineage(
                connection,
                int(pdf_artifact_id or 0),
                artifact_id,
                "page_of",
                job_id=lease.job_id,
                model_key=header.model_key,
                service_version=header.service_version,
            )
            return done

    async def complete(
        self,
        lease: Lease,
        *,
        score: Blob,
        score_json: Blob,
        fragment_keys: list[str],
        reason: str,
        model_key: str | None,
        service_version: str | None,
        cached: bool = False,
    ) -> None:
        async with self.engine.begin() as connection:
            await self._fenced(connection, lease)  # first: takes the row lock on Postgres
            score_id = await record_artifact(connection, score)
            json_id = await record_artifact(connection, score_json)
            for key in fragment_keys:
                parent = await connection.scalar(select(artifacts.c.id).where(artifacts.c.key == key))
                await record_lineage(
                    connection,
                    int(parent or 0),
                    score_id,
                    "assembled_from",
                    job_id=lease.job_id,
                    model_key=model_key,
                    service_version=service_version,
                )
            await record_lineage(connection, score_id, json_id, "encoded_as", job_id=lease.job_id)
            await self._fenced(
                connection,
                lease,
                to=JobState.OMR_COMPLETED,
                reason=reason,
                score_artifact_id=score_id,
                score_json_artifact_id=json_id,
                cached=cached,
                model_key=model_key,
                service_version=service_version,
                last_error="",
                lease_expire_time=None,
            )

    async def adopt_pages(self, lease: Lease, source: dict[str, Any]) -> None:
        """Takes over the recognised pages of an earlier job of the same owner (same PDF, options
        and model): its header and its stored fragments become this job's, as if streamed. The
        job is then assembled as usual, so its score carries its own file name and provenance."""
        async with self.engine.begin() as connection:
            await self._fenced(
                connection,
                lease,
                page_count=source["page_count"],
                pages_to_read=source["pages_to_read"],
                dpi=source["dpi"],
                model_key=source["model_key"],
                model_json=source["model_json"],
                service_version=source["service_version"],
                metadata_json=source["metadata_json"],
            )
            pages = await connection.execute(
                select(job_pages.c.page_index, job_pages.c.artifact_id).where(
                    job_pages.c.job_id == source["id"]
                )
            )
            rows = [
                {
                    "job_id": lease.job_id,
                    "page_index": index,
                    "artifact_id": artifact_id,
                    "attempt": lease.attempt,
                    "create_time": utcnow(),
                }
                for index, artifact_id in pages
            ]
            await connection.execute(delete(job_pages).where(job_pages.c.job_id == lease.job_id))
            if rows:
                await connection.execute(job_pages.insert(), rows)
            await connection.execute(
                update(jobs).where(jobs.c.id == lease.job_id).values(pages_done=len(rows))
            )

    async def find_cached(self, job: dict[str, Any], model_key: str) -> dict[str, Any] | None:
        """An earlier completed job of the same owner on the same PDF, options and model, whose
        pages are all stored. Never another owner's: a hit would tell this owner that someone
        else uploaded the same PDF (and when), and its rows carry that owner's names."""
        async with self.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(jobs)
                        .where(
                            jobs.c.owner == job["owner"],
                            jobs.c.id != job["id"],
                            jobs.c.pdf_sha256 == job["pdf_sha256"],
                            jobs.c.options_key == job["options_key"],
                            jobs.c.model_key == model_key,
                            jobs.c.state == JobState.OMR_COMPLETED,
                            jobs.c.score_artifact_id.is_not(None),
                            jobs.c.pages_to_read > 0,
                            jobs.c.pages_done == jobs.c.pages_to_read,
                        )
                        .order_by(jobs.c.id)
                        .limit(1)
                    )
                )
                .mappings()
                .first()
            )
            return dict(row) if row else None

    async def fail(self, lease: Lease, error: str) -> None:
        async with self.engine.begin() as connection:
            await self._fenced(
                connection,
                lease,
                to=JobState.OMR_FAILED,
                reason=error,
                last_error=error,
                lease_expire_time=None,
            )

    async def release(
        self, lease: Lease, error: str, delay: timedelta, *, count_attempt: bool = True
    ) -> JobState:
        """Hands the job back to the queue to be retried after `delay` (or fails it for good when
        it has used up its attempts). Pages already stored are kept. A worker that stops (not the
        job's fault) does not count the attempt."""
        now = utcnow()
        async with self.engine.begin() as connection:
            if count_attempt and lease.attempt >= self.max_attempts:
                why = f"gave up after {lease.attempt} attempts; last error: {error}"
                await self._fenced(
                    connection,
                    lease,
                    to=JobState.OMR_FAILED,
                    reason=why,
                    last_error=why,
                    lease_expire_time=None,
                )
                return JobState.OMR_FAILED
            if count_attempt:
                reason = f"attempt {lease.attempt} failed, retrying in {delay.total_seconds():.1f}s: {error}"
            else:
                reason = f"handed back by worker {lease.worker_id}: {error}"
            await self._fenced(
                connection,
                lease,
                to=JobState.PENDING,
                reason=reason,
                last_error=error,
                next_attempt_time=now + delay,
                lease_expire_time=None,
                worker_id=None,
                attempts=lease.attempt if count_attempt else lease.attempt - 1,
            )
            return JobState.PENDING
