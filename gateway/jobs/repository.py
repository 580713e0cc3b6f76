"""Creating, reading, listing and cancelling jobs on behalf of an owner.

A job belongs to the owner whose token created it; every query is scoped by owner, so another
owner's job is indistinguishable from a missing one (NOT_FOUND).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from etude.jobs.v1 import job_service_pb2 as jobs_pb2
from etude.omr.v1 import omr_service_pb2 as omr_pb2
from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway import media
from gateway.errors import ConflictError, InvalidArgumentError, NotFoundError, TooLargeError
from gateway.events import JobEvents
from gateway.jobs.records import (
    JobState,
    can_transition,
    check_transition,
    job_to_proto,
    new_job_id,
    options_key,
    options_to_json,
)
from gateway.metrics import JOBS_CREATED
from gateway.validation import (
    check_cancel_reason,
    check_file_name,
    check_idempotency_key,
    check_job_id,
    check_options,
    check_pdf_key,
)
from storage.artifacts import put_blob, record_artifact
from storage.objects import ObjectNotFoundError, ObjectStore, sha256_hex
from storage.tables import job_pages, job_transitions, jobs, utcnow

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class JobView:
    row: Mapping[Any, Any]
    transitions: Sequence[Mapping[Any, Any]]
    # True when an idempotency key replay returned an existing job.
    replayed: bool = False

    @property
    def state(self) -> JobState:
        return JobState(self.row["state"])

    def to_proto(self) -> jobs_pb2.Job:
        return job_to_proto(self.row, self.transitions)


def check_pdf(data: bytes, max_bytes: int) -> str:
    """The upload's media type (a PDF or a PNG, JPEG, TIFF or WebP image, told by content)."""
    if len(data) > max_bytes:
        raise TooLargeError(
            f"the PDF is {len(data)} bytes; this gateway accepts at most {max_bytes}",
            reason="PDF_TOO_LARGE",
            field="pdf",
        )
    if not data:
        raise InvalidArgumentError("no PDF was sent", reason="EMPTY_PDF", field="pdf")
    media_type = media.IMAGE_FILES if media.unbundle(data) is not None else media.sniff(data)
    if media_type is None:
        raise InvalidArgumentError(
            "the upload is not a PDF (no %PDF- header) nor a PNG, JPEG, TIFF or WebP image",
            reason="NOT_A_PDF",
            field="pdf",
        )
    return media_type


class JobRepository:
    def __init__(
        self, engine: AsyncEngine, store: ObjectStore, events: JobEvents, *, max_pdf_bytes: int
    ) -> None:
        self.engine = engine
        self.store = store
        self.events = events
        self.max_pdf_bytes = max_pdf_bytes

    async def create(
        self,
        owner: str,
        pdf: bytes,
        *,
        file_name: str = "",
        options: omr_pb2.RecognitionOptions | None = None,
        idempotency_key: str = "",
    ) -> JobView:
        """Stores the PDF (content-addressed), then commits the job row as PENDING."""
        options = options or omr_pb2.RecognitionOptions()
        check_options(options)
        check_file_name(file_name)
        check_idempotency_key(idempotency_key)
        if idempotency_key and (existing := await self._by_idempotency_key(owner, idempotency_key)):
            return self._replay(existing, pdf)
        media_type = check_pdf(pdf, self.max_pdf_bytes)
        # Images are kept beside PDFs under the same content-addressed key; the OMR server tells
        # them apart by their bytes.
        blob = await put_blob(self.store, "pdf", pdf, media_type, ".pdf")
        now = utcnow()
        job_id = new_job_id()
        try:
            async with self.engine.begin() as connection:
                pdf_artifact_id = await record_artifact(connection, blob)
                await connection.execute(
                    insert(jobs).values(
                        id=job_id,
                        owner=owner,
                        idempotency_key=idempotency_key or None,
                        state=JobState.PENDING,
                        file_name=file_name,
                        pdf_sha256=blob.sha256,
                        pdf_size=blob.size,
                        pdf_artifact_id=pdf_artifact_id,
                        options_json=options_to_json(options),
                        options_key=options_key(options),
                        page_count=0,
                        pages_to_read=0,
                        dpi=0,
                        pages_done=0,
                        attempts=0,
                        next_attempt_time=now,
                        lease_token=0,
                        last_error="",
                        cached=False,
                        create_time=now,
                        update_time=now,
                    )
                )
                await record_transition(
                    connection, job_id, JobState.PENDING, JobState.PENDING, "created", now
                )
                # The job as created, read in its own transaction: a worker may claim it the
                # moment it commits, and the answer to "create" is the PENDING job.
                row = (await connection.execute(select(jobs).where(jobs.c.id == job_id))).mappings().one()
                created = JobView(row, await load_transitions(connection, job_id))
        except IntegrityError:
            # Two replays raced; the other one's row stands.
            existing = await self._by_idempotency_key(owner, idempotency_key) if idempotency_key else None
            if existing is None:
                raise
            return self._replay(existing, pdf)
        self.events.work_arrived()
        JOBS_CREATED.inc()
        return created

    async def create_from_object(
        self,
        owner: str,
        uri: str,
        *,
        sha256: str = "",
        file_name: str = "",
        options: omr_pb2.RecognitionOptions | None = None,
        idempotency_key: str = "",
    ) -> JobView:
        """A job on a PDF already in this gateway's object store that this owner uploaded before.
        An unknown PDF and another owner's look the same (NOT_FOUND, checked before the store is
        read), so the answer tells nobody whether a PDF with some hash is stored."""
        try:
            key = check_pdf_key(self.store.key_for_uri(uri))
        except ValueError as error:
            raise InvalidArgumentError(str(error), reason="FOREIGN_OBJECT", field="object.uri") from error
        digest = key.split("/")[2].removesuffix(".pdf")
        missing = NotFoundError(
            "no PDF with this reference among your uploads", reason="NO_SUCH_OBJECT", field="object.uri"
        )
        async with self.engine.connect() as connection:
            mine = await connection.scalar(
                select(jobs.c.id).where(jobs.c.owner == owner, jobs.c.pdf_sha256 == digest).limit(1)
            )
        if mine is None:
            raise missing
        try:
            pdf = await self.store.get(key)
        except ObjectNotFoundError as error:
            raise missing from error
        if sha256 and sha256_hex(pdf) != sha256.lower():
            raise InvalidArgumentError(
                f"object {uri} does not have sha256 {sha256}", reason="SHA256_MISMATCH", field="object.sha256"
            )
        return await self.create(
            owner,
            pdf,
            file_name=file_name or key.rsplit("/", 1)[-1],
            options=options,
            idempotency_key=idempotency_key,
        )

    def _replay(self, existing: JobView, pdf: bytes) -> JobView:
        if pdf and sha256_hex(pdf) != existing.row["pdf_sha256"]:
            raise ConflictError(
                "this idempotency key was used for a different PDF",
                reason="IDEMPOTENCY_KEY_REUSED",
                field="idempotency_key",
            )
        return dataclasses.replace(existing, replayed=True)

    async def _by_idempotency_key(self, owner: str, key: str) -> JobView | None:
        async with self.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(jobs).where(jobs.c.owner == owner, jobs.c.idempotency_key == key)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            return JobView(row, await load_transitions(connection, row["id"]))

    async def get(self, owner: str, job_id: str) -> JobView:
        # The row and its transitions are two reads (each its own snapshot under READ COMMITTED
        # and SQLite autocommit); every state change writes both in one transaction, so when
        # the newest transition disagrees with the row a commit fell in between: read again.
        check_job_id(job_id)
        for _ in range(10):
            async with self.engine.connect() as connection:
                row = (
                    (await connection.execute(select(jobs).where(jobs.c.id == job_id, jobs.c.owner == owner)))
                    .mappings()
                    .first()
                )
                if row is None:
                    raise NotFoundError(f"no job {job_id!r}", reason="NO_SUCH_JOB", field="job_id")
                view = JobView(row, await load_transitions(connection, job_id))
            if not view.transitions or view.transitions[-1]["to_state"] == row["state"]:
                break
        return view

    async def list_jobs(
        self, owner: str, *, page_size: int = 0, page_token: str = "", state: JobState | None = None
    ) -> tuple[list[JobView], str]:
        """Newest first; the page token is the last id of the previous page (ids sort by time)."""
        if page_size < 0:
            raise InvalidArgumentError(
                "page_size must not be negative", reason="BAD_PAGE_SIZE", field="page_size"
            )
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if page_token and not (len(page_token) == 32 and all(c in "0123456789abcdef" for c in page_token)):
            raise InvalidArgumentError(
                "page_token is not one this service gave", reason="BAD_PAGE_TOKEN", field="page_token"
            )
        query = select(jobs).where(jobs.c.owner == owner)
        if page_token:
            query = query.where(jobs.c.id < page_token)
        if state is not None:
            query = query.where(jobs.c.state == state)
        query = query.order_by(jobs.c.id.desc()).limit(size + 1)
        async with self.engine.connect() as connection:
            rows = list((await connection.execute(query)).mappings())
            ids = [row["id"] for row in rows[:size]]
            result = await connection.execute(
                select(job_transitions)
                .where(job_transitions.c.job_id.in_(ids))
                .order_by(job_transitions.c.id)
            )
            by_job: dict[str, list[Mapping[Any, Any]]] = {job_id: [] for job_id in ids}
            for transition in result.mappings():
                by_job[transition["job_id"]].append(transition)
            views = [JobView(row, by_job[row["id"]]) for row in rows[:size]]
        next_token = rows[size - 1]["id"] if len(rows) > size else ""
        return views, next_token

    async def cancel(self, owner: str, job_id: str, reason: str = "") -> JobView:
        check_job_id(job_id)
        reason = check_cancel_reason(reason) or "cancelled by its owner"
        # On SQLite nothing locks the row between the read and the compare-and-set, so a worker
        # may claim the job in between: then read the new state and try again.
        for _ in range(10):
            if await self._cancel_once(owner, job_id, reason):
                break
        self.events.job_changed(job_id)
        return await self.get(owner, job_id)

    async def _cancel_once(self, owner: str, job_id: str, reason: str) -> bool:
        """True when the job is cancelled now (or already was); False when it changed under us."""
        async with self.engine.begin() as connection:
            row = (
                await connection.execute(
                    select(jobs.c.state).where(jobs.c.id == job_id, jobs.c.owner == owner).with_for_update()
                )
            ).first()
            if row is None:
                raise NotFoundError(f"no job {job_id!r}", reason="NO_SUCH_JOB", field="job_id")
            state = JobState(row.state)
            if state is JobState.CANCELLED:  # cancelling twice is a no-op
                return True
            if not can_transition(state, JobState.CANCELLED):
                raise ConflictError(f"job {job_id} already ended ({state.value})", reason="JOB_ENDED")
            # Workers' writes are fenced on state = OMR_PROCESSING, so a running attempt stops
            # at its next write (or heartbeat) and can never bring the job back.
            return await change_state(
                connection,
                job_id,
                state,
                JobState.CANCELLED,
                reason,
                utcnow(),
                last_error=reason,
                lease_expire_time=None,
            )

    async def page_indexes(self, job_id: str) -> list[tuple[int, datetime]]:
        """(page index, time stored) of the job's stored pages, in page order."""
        async with self.engine.connect() as connection:
            result = await connection.execute(
                select(job_pages.c.page_index, job_pages.c.create_time)
                .where(job_pages.c.job_id == job_id)
                .order_by(job_pages.c.page_index)
            )
            return [(int(index), time) for index, time in result]


async def load_transitions(connection: AsyncConnection, job_id: str) -> list[Mapping[Any, Any]]:
    result = await connection.execute(
        select(job_transitions).where(job_transitions.c.job_id == job_id).order_by(job_transitions.c.id)
    )
    return list(result.mappings())


async def record_transition(
    connection: AsyncConnection, job_id: str, from_state: JobState, to_state: JobState, reason: str, now: Any
) -> None:
    """Writes the transition row; the state machine in records.py decides what is legal."""
    check_transition(from_state, to_state)
    await connection.execute(
        insert(job_transitions).values(
            job_id=job_id, from_state=from_state, to_state=to_state, time=now, reason=reason
        )
    )


async def change_state(
    connection: AsyncConnection,
    job_id: str,
    from_state: JobState,
    to_state: JobState,
    reason: str,
    now: datetime,
    *,
    fence: Sequence[ColumnElement[bool]] = (),
    **values: Any,
) -> bool:
    """Compare-and-set of the job's state (only from `from_state`, and only when the move is
    legal), with its transition row in the same transaction. False when the row had changed."""
    check_transition(from_state, to_state)
    changed = await connection.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.state == from_state, *fence)
        .values(state=to_state, update_time=now, **values)
    )
    if changed.rowcount != 1:
        return False
    await record_transition(connection, job_id, from_state, to_state, reason, now)
    return True
