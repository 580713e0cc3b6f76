"""The gateway end to end over real gRPC on loopback, against an OMR server on loopback, on
SQLite and real Postgres: upload, watch, score in every format, results cache, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from etude.ir.v1 import score_pb2
from etude.jobs.v1 import job_service_pb2 as jobs_pb2
from etude.jobs.v1 import job_service_pb2_grpc as jobs_grpc
from etude.omr.v1 import omr_service_pb2 as omr_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from gateway.server import GatewayHandle, start_gateway
from tests.gateway.conftest import ALICE, BOB, OmrProcess, gateway_settings
from tests.gateway.pdfs import blank_pdf

CHUNK = 16 * 1024


@pytest.fixture
async def gateway(database_url: str, tmp_path: Path, omr: OmrProcess) -> AsyncIterator[GatewayHandle]:
    handle = await start_gateway(
        gateway_settings(database_url, str(tmp_path / "objects"), omr.address, max_pdf_bytes=400_000)
    )
    yield handle
    await handle.stop(grace=1)


@pytest.fixture
async def stub(gateway: GatewayHandle) -> AsyncIterator[jobs_grpc.JobServiceStub]:
    async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
        yield jobs_grpc.JobServiceStub(channel)


def upload(pdf: bytes, **metadata: object) -> list[jobs_pb2.CreateJobRequest]:
    first = jobs_pb2.CreateJobRequest(metadata=jobs_pb2.CreateJobMetadata(**metadata))  # type: ignore[arg-type]
    return [first] + [jobs_pb2.CreateJobRequest(chunk=pdf[i : i + CHUNK]) for i in range(0, len(pdf), CHUNK)]


async def create(stub: jobs_grpc.JobServiceStub, pdf: bytes, auth=ALICE, **metadata: object) -> jobs_pb2.Job:  # type: ignore[no-untyped-def]
    response = await stub.CreateJob(iter(upload(pdf, **metadata)), metadata=auth)
    return response.job


async def watch_to_end(stub: jobs_grpc.JobServiceStub, job_id: str) -> list[jobs_pb2.WatchJobResponse]:
    return [event async for event in stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id), metadata=ALICE)]


def details(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    reason, fields = "", []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return reason, fields


async def test_full_lifecycle(stub: jobs_grpc.JobServiceStub, omr: OmrProcess) -> None:
    pdf = blank_pdf(3)
    job = await create(stub, pdf, file_name="three.pdf", options=omr_pb2.RecognitionOptions(dpi=150))
    assert job.state == jobs_pb2.JOB_STATE_PENDING and job.pdf_size == len(pdf)

    events = await watch_to_end(stub, job.id)
    assert events[0].WhichOneof("event") is None  # the current state comes first
    pages = [e.page.page_index for e in events if e.WhichOneof("event") == "page"]
    states = [e.transition.to_state for e in events if e.WhichOneof("event") == "transition"]
    # Pages stored before the watch began are in the first snapshot; every later one is an event.
    assert pages == list(range(events[0].job.pages_done, 3))
    assert states[-1] == jobs_pb2.JOB_STATE_OMR_COMPLETED

    done = (await stub.GetJob(jobs_pb2.GetJobRequest(job_id=job.id), metadata=ALICE)).job
    assert done.state == jobs_pb2.JOB_STATE_OMR_COMPLETED
    assert (done.page_count, done.pages_done, done.attempts, done.cached) == (3, 3, 1, False)
    assert [t.to_state for t in done.transitions] == [
        jobs_pb2.JOB_STATE_PENDING,
        jobs_pb2.JOB_STATE_OMR_PROCESSING,
        jobs_pb2.JOB_STATE_OMR_COMPLETED,
    ]
    assert all(t.reason and t.time.seconds for t in done.transitions)

    proto = await stub.GetScore(jobs_pb2.GetScoreRequest(job_id=job.id), metadata=ALICE)
    assert proto.format == jobs_pb2.SCORE_FORMAT_IR_PROTO
    assert [f.page_index for f in proto.score.fragments] == [0, 1, 2]
    assert len(proto.score.notes) == 3 * 5 and len(proto.score.measures) == 6
    assert proto.score.source.pdf_sha256 == job.pdf_sha256
    assert proto.score.provenance.model.name == "omr-double"
    assert score_pb2.Score.FromString(proto.content) == proto.score

    as_json = await stub.GetScore(
        jobs_pb2.GetScoreRequest(job_id=job.id, format=jobs_pb2.SCORE_FORMAT_IR_JSON), metadata=ALICE
    )
    assert as_json.content_type.startswith("application/json") and b'"notes"' in as_json.content
    for fmt, magic in (
        (jobs_pb2.SCORE_FORMAT_MUSICXML, b"<score-partwise"),
        (jobs_pb2.SCORE_FORMAT_MIDI, b"MThd"),
    ):
        first = await stub.GetScore(jobs_pb2.GetScoreRequest(job_id=job.id, format=fmt), metadata=ALICE)
        again = await stub.GetScore(jobs_pb2.GetScoreRequest(job_id=job.id, format=fmt), metadata=ALICE)
        assert magic in first.content[:400] and first.content == again.content

    # Same PDF, same options, same model: the score is reused, the OMR server is not called.
    served = len(omr.requests())
    replay = await create(stub, pdf, options=omr_pb2.RecognitionOptions(dpi=150))
    await watch_to_end(stub, replay.id)
    reused = (await stub.GetJob(jobs_pb2.GetJobRequest(job_id=replay.id), metadata=ALICE)).job
    assert reused.state == jobs_pb2.JOB_STATE_OMR_COMPLETED and reused.cached
    assert len(omr.requests()) == served
    # Other options are another result.
    other = await create(stub, pdf, options=omr_pb2.RecognitionOptions(dpi=150, first_page=1))
    await watch_to_end(stub, other.id)
    partial = (await stub.GetJob(jobs_pb2.GetJobRequest(job_id=other.id), metadata=ALICE)).job
    assert not partial.cached and partial.pages_done == 2 and partial.page_count == 3


async def test_idempotent_create_list_and_owners(stub: jobs_grpc.JobServiceStub) -> None:
    pdf = blank_pdf(1)
    a = await create(stub, pdf, idempotency_key="once")
    b = await create(stub, pdf, idempotency_key="once")
    assert a.id == b.id
    await create(stub, blank_pdf(1, label="x"))
    listed = await stub.ListJobs(jobs_pb2.ListJobsRequest(page_size=1), metadata=ALICE)
    assert len(listed.jobs) == 1 and listed.next_page_token
    rest = await stub.ListJobs(jobs_pb2.ListJobsRequest(page_token=listed.next_page_token), metadata=ALICE)
    assert len(rest.jobs) == 1 and not rest.next_page_token
    assert not (await stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=BOB)).jobs
    for call in (
        stub.GetJob(jobs_pb2.GetJobRequest(job_id=a.id), metadata=BOB),
        stub.CancelJob(jobs_pb2.CancelJobRequest(job_id=a.id), metadata=BOB),
        stub.GetScore(jobs_pb2.GetScoreRequest(job_id=a.id), metadata=BOB),
        stub.GetJob(jobs_pb2.GetJobRequest(job_id="f" * 32), metadata=ALICE),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=a.id), metadata=BOB).read()
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cancel_over_grpc(gateway: GatewayHandle, stub: jobs_grpc.JobServiceStub) -> None:
    # A long document on a slow path: 40 pages at 0.05 s each keeps the job busy for 2 s.
    job = await create(stub, blank_pdf(40))
    cancelled = await stub.CancelJob(
        jobs_pb2.CancelJobRequest(job_id=job.id, reason="wrong file"), metadata=ALICE
    )
    assert cancelled.job.state == jobs_pb2.JOB_STATE_CANCELLED and cancelled.job.error == "wrong file"
    events = await watch_to_end(stub, job.id)
    assert events[-1].job.state == jobs_pb2.JOB_STATE_CANCELLED
    assert cancelled.job.transitions[-1].to_state == jobs_pb2.JOB_STATE_CANCELLED


async def test_bad_requests_get_clear_statuses(stub: jobs_grpc.JobServiceStub) -> None:
    cases = [
        (upload(b"hello, not a pdf"), grpc.StatusCode.INVALID_ARGUMENT, "NOT_A_PDF"),
        ([jobs_pb2.CreateJobRequest(chunk=b"%PDF-")], grpc.StatusCode.INVALID_ARGUMENT, "NO_METADATA"),
        (upload(b"%PDF-1.4" + b"0" * 500_000), grpc.StatusCode.RESOURCE_EXHAUSTED, "PDF_TOO_LARGE"),
        (
            upload(blank_pdf(1), options=omr_pb2.RecognitionOptions(dpi=-5)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "BAD_OPTIONS",
        ),
        (
            upload(b"", object=omr_pb2.ObjectReference(uri="https://elsewhere/x.pdf")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "FOREIGN_OBJECT",
        ),
    ]
    for requests, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateJob(iter(requests), metadata=ALICE)
        assert caught.value.code() == code, caught.value.details()
        assert details(caught.value)[0] == reason
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListJobs(jobs_pb2.ListJobsRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=(("authorization", "Bearer nope"),))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    job = await create(stub, blank_pdf(1))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetScore(jobs_pb2.GetScoreRequest(job_id=job.id, format=99), metadata=ALICE)  # type: ignore[arg-type]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_permanent_omr_error_fails_the_job_at_once(stub: jobs_grpc.JobServiceStub) -> None:
    """A PDF header over garbage passes the gateway's check; the OMR server's INVALID_ARGUMENT ends it."""
    job = await create(stub, b"%PDF-1.7\n" + b"\x00garbage" * 100)
    await watch_to_end(stub, job.id)
    failed = (await stub.GetJob(jobs_pb2.GetJobRequest(job_id=job.id), metadata=ALICE)).job
    assert failed.state == jobs_pb2.JOB_STATE_OMR_FAILED and failed.attempts == 1
    assert "INVALID_ARGUMENT" in failed.error and "not a readable PDF" in failed.error
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetScore(jobs_pb2.GetScoreRequest(job_id=job.id), metadata=ALICE)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_object_reference_and_health(gateway: GatewayHandle, stub: jobs_grpc.JobServiceStub) -> None:
    pdf = blank_pdf(1)
    first = await create(stub, pdf)
    uri = gateway.core.store.uri(f"pdf/{first.pdf_sha256[:2]}/{first.pdf_sha256}.pdf")
    ref = await create(stub, b"", object=omr_pb2.ObjectReference(uri=uri, sha256=first.pdf_sha256))
    assert ref.pdf_sha256 == first.pdf_sha256 and ref.id != first.id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(stub, b"", object=omr_pb2.ObjectReference(uri=uri, sha256="0" * 64))
    assert details(caught.value)[0] == "SHA256_MISMATCH"
    async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="etude.jobs.v1.JobService")
        )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
