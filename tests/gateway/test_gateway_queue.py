"""Job rows and the queue discipline on SQLite and real Postgres: creation, idempotency, owners,
claims, leases, fencing, release, cancellation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from etude.omr.v1 import omr_service_pb2 as omr_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import ConflictError, InvalidArgumentError, NotFoundError, TooLargeError
from gateway.events import JobEvents
from gateway.jobs.queue import Header, JobQueue, LeaseLostError
from gateway.jobs.records import JobState
from gateway.jobs.repository import JobRepository
from storage.artifacts import put_blob
from storage.database import create_engine, migrate
from storage.objects import LocalObjectStore
from storage.tables import jobs
from tests.gateway.pdfs import blank_pdf

HEADER = Header(3, 3, 150, {"name": "m", "version": "1", "sha256": "x"}, "0.1.0")


@pytest.fixture
def repo(engine: AsyncEngine, tmp_path: Path) -> JobRepository:
    return JobRepository(engine, LocalObjectStore(tmp_path / "objects"), JobEvents(), max_pdf_bytes=200_000)


async def test_create_stores_pdf_then_commits_pending_row(repo: JobRepository) -> None:
    pdf = blank_pdf(2)
    view = await repo.create("alice", pdf, file_name="a.pdf", options=omr_pb2.RecognitionOptions(dpi=150))
    job = view.to_proto()
    assert view.state is JobState.PENDING
    assert job.file_name == "a.pdf" and job.pdf_size == len(pdf) and job.options.dpi == 150
    assert [t.reason for t in job.transitions] == ["created"]
    key = f"pdf/{job.pdf_sha256[:2]}/{job.pdf_sha256}.pdf"
    assert await repo.store.get(key) == pdf


async def test_idempotency_key_replays_the_same_job(repo: JobRepository) -> None:
    pdf = blank_pdf(1)
    first = await repo.create("alice", pdf, idempotency_key="k1")
    again = await repo.create("alice", pdf, idempotency_key="k1")
    other_owner = await repo.create("bob", pdf, idempotency_key="k1")
    assert first.row["id"] == again.row["id"] != other_owner.row["id"]
    with pytest.raises(ConflictError):
        await repo.create("alice", blank_pdf(1, label="other"), idempotency_key="k1")


async def test_bad_uploads_are_refused_and_store_nothing(repo: JobRepository, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="not a PDF"):
        await repo.create("alice", b"hello world")
    with pytest.raises(InvalidArgumentError, match="no PDF"):
        await repo.create("alice", b"")
    with pytest.raises(TooLargeError):
        await repo.create("alice", b"%PDF-1.4" + b"0" * 300_000)
    with pytest.raises(InvalidArgumentError, match="first_page"):
        await repo.create("alice", blank_pdf(1), options=omr_pb2.RecognitionOptions(first_page=-1))
    assert not list((tmp_path / "objects").rglob("*.pdf"))
    assert (await repo.list_jobs("alice"))[0] == []


async def test_jobs_are_visible_to_their_owner_only(repo: JobRepository) -> None:
    view = await repo.create("alice", blank_pdf(1))
    with pytest.raises(NotFoundError):
        await repo.get("bob", view.row["id"])
    with pytest.raises(NotFoundError):
        await repo.cancel("bob", view.row["id"])
    with pytest.raises(NotFoundError):
        await repo.get("alice", "0" * 32)
    assert (await repo.list_jobs("bob"))[0] == []


async def test_list_is_paginated_newest_first(repo: JobRepository) -> None:
    ids = []
    for n in range(5):
        ids.append((await repo.create("alice", blank_pdf(1, label=str(n)))).row["id"])
        await asyncio.sleep(0.002)
    await repo.create("bob", blank_pdf(1))
    page1, token = await repo.list_jobs("alice", page_size=2)
    page2, token2 = await repo.list_jobs("alice", page_size=2, page_token=token)
    page3, token3 = await repo.list_jobs("alice", page_size=2, page_token=token2)
    seen = [v.row["id"] for v in page1 + page2 + page3]
    assert seen == list(reversed(ids)) and token3 == ""
    await repo.cancel("alice", ids[0])
    cancelled, _ = await repo.list_jobs("alice", state=JobState.CANCELLED)
    assert [v.row["id"] for v in cancelled] == [ids[0]]
    with pytest.raises(InvalidArgumentError):
        await repo.list_jobs("alice", page_token="nonsense")


async def test_claim_lease_fence_and_takeover(repo: JobRepository, engine: AsyncEngine) -> None:
    queue = JobQueue(engine, lease_seconds=0.3, max_attempts=5)
    job_id = (await repo.create("alice", blank_pdf(1))).row["id"]
    lease = await queue.claim("w1")
    assert lease is not None and lease.job_id == job_id and lease.attempt == 1
    assert await queue.claim("w2") is None  # held
    await queue.record_header(lease, HEADER)
    blob = await put_blob(repo.store, "fragment", b"page0", "application/x-protobuf", ".pb")
    assert await queue.record_page(lease, 0, blob, HEADER) == 1
    await asyncio.sleep(0.4)  # w1 stops renewing: its lease expires
    taken = await queue.claim("w2")
    assert taken is not None and taken.token > lease.token and taken.attempt == 2
    blob1 = await put_blob(repo.store, "fragment", b"page1", "application/x-protobuf", ".pb")
    with pytest.raises(LeaseLostError):  # the stale worker can no longer write
        await queue.record_page(lease, 1, blob1, HEADER)
    with pytest.raises(LeaseLostError):
        await queue.renew(lease)
    assert await queue.record_page(taken, 1, blob1, HEADER) == 2
    assert await queue.record_page(taken, 1, blob1, HEADER) == 2  # a page is stored once
    assert sorted(await queue.stored_pages(job_id)) == [0, 1]
    reasons = [t.reason for t in (await repo.get("alice", job_id)).to_proto().transitions]
    assert "expired" in reasons[-1]


async def test_release_retries_later_then_fails_after_max_attempts(
    repo: JobRepository, engine: AsyncEngine
) -> None:
    queue = JobQueue(engine, lease_seconds=30, max_attempts=2)
    job_id = (await repo.create("alice", blank_pdf(1))).row["id"]
    lease = await queue.claim("w1")
    assert lease is not None
    assert await queue.release(lease, "OMR down", timedelta(seconds=0.2)) is JobState.PENDING
    assert await queue.claim("w1") is None  # not due yet
    await asyncio.sleep(0.25)
    lease2 = await queue.claim("w1")
    assert lease2 is not None and lease2.attempt == 2
    assert await queue.release(lease2, "OMR down", timedelta(seconds=0)) is JobState.OMR_FAILED
    job = (await repo.get("alice", job_id)).to_proto()
    assert job.attempts == 2 and "gave up after 2 attempts" in job.error


async def test_cancel_during_processing_fences_the_worker_out(
    repo: JobRepository, engine: AsyncEngine
) -> None:
    queue = JobQueue(engine, lease_seconds=30, max_attempts=5)
    job_id = (await repo.create("alice", blank_pdf(1))).row["id"]
    lease = await queue.claim("w1")
    assert lease is not None
    view = await repo.cancel("alice", job_id, "changed my mind")
    assert view.state is JobState.CANCELLED
    with pytest.raises(LeaseLostError):
        await queue.renew(lease)
    with pytest.raises(LeaseLostError):
        await queue.fail(lease, "late failure")
    assert (await repo.get("alice", job_id)).to_proto().error == "changed my mind"
    assert await queue.claim("w2") is None
    assert (await repo.cancel("alice", job_id)).state is JobState.CANCELLED  # idempotent


async def test_many_workers_claim_each_job_once_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """SKIP LOCKED: concurrent claimers (own connections, as in separate processes) never share a job."""
    engine = create_engine(postgres_url)
    await migrate(engine)
    try:
        repo = JobRepository(engine, LocalObjectStore(tmp_path / "o"), JobEvents(), max_pdf_bytes=10**6)
        created = {(await repo.create("alice", blank_pdf(1, label=str(n)))).row["id"] for n in range(12)}
        queues = [JobQueue(create_engine(postgres_url), lease_seconds=60, max_attempts=5) for _ in range(4)]

        async def drain(queue: JobQueue, name: str) -> list[str]:
            got = []
            while (lease := await queue.claim(name)) is not None:
                got.append(lease.job_id)
            return got

        results = await asyncio.gather(*(drain(q, f"w{i}") for i, q in enumerate(queues)))
        claimed = [job for got in results for job in got]
        assert sorted(claimed) == sorted(created)
        async with engine.connect() as connection:
            attempts = (await connection.execute(select(jobs.c.attempts))).scalars().all()
        assert set(attempts) == {1}
        for queue in queues:
            await queue.engine.dispose()
    finally:
        await engine.dispose()


async def test_concurrent_replays_of_one_idempotency_key_make_one_job(repo: JobRepository) -> None:
    pdf = blank_pdf(1)
    views = await asyncio.gather(*(repo.create("alice", pdf, idempotency_key="race") for _ in range(5)))
    assert len({v.row["id"] for v in views}) == 1
    assert len((await repo.list_jobs("alice"))[0]) == 1
