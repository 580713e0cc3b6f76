"""Regression tests for issue 13 (gateway side): each builds its hostile input itself and runs
over real gRPC and real HTTP, on SQLite and real Postgres where the database is involved."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from etude.jobs.v1 import job_service_pb2 as jobs_pb2
from etude.jobs.v1 import job_service_pb2_grpc as jobs_grpc
from etude.omr.v1 import omr_service_pb2 as omr_pb2

from gateway.server import GatewayHandle, start_gateway
from tests.gateway.conftest import ALICE, BOB, OmrProcess, gateway_settings
from tests.gateway.pdfs import blank_pdf
from tests.gateway.test_gateway_grpc import create, details, upload

REST_ALICE = dict(ALICE)
REST_BOB = dict(BOB)


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


@pytest.fixture
async def client(gateway: GatewayHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=30) as client:
        yield client


async def finished(stub: jobs_grpc.JobServiceStub, job_id: str, auth: object = ALICE) -> jobs_pb2.Job:
    async for _ in stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id), metadata=auth):  # type: ignore[arg-type]
        pass
    return (await stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id), metadata=auth)).job  # type: ignore[arg-type]


async def rpc_error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


# --- #2: the results cache never crosses owners; a cached job is its own -----------------------


async def test_cache_is_per_owner_and_a_cached_job_has_its_own_name_and_pages(
    stub: jobs_grpc.JobServiceStub, omr: OmrProcess
) -> None:
    pdf = blank_pdf(2, label="shared")
    alice = await finished(stub, (await create(stub, pdf, file_name="alice-private.pdf")).id)
    assert alice.state == jobs_pb2.JOB_STATE_OMR_COMPLETED
    served = len(omr.requests())

    bob_job = await create(stub, pdf, auth=BOB, file_name="bob.pdf")
    bob = await finished(stub, bob_job.id, BOB)
    assert bob.state == jobs_pb2.JOB_STATE_OMR_COMPLETED and not bob.cached
    assert len(omr.requests()) == served + 1  # recognised again: nothing of alice's job reused
    assert all(alice.id not in t.reason for t in bob.transitions)
    score = (await stub.GetScore(jobs_pb2.GetScoreRequest(job_id=bob.id), metadata=BOB)).score
    assert score.source.file_name == "bob.pdf"

    again = await finished(stub, (await create(stub, pdf, file_name="second-copy.pdf")).id)
    assert again.cached and len(omr.requests()) == served + 1
    assert (again.pages_done, again.page_count) == (2, 2)
    cached = (await stub.GetScore(jobs_pb2.GetScoreRequest(job_id=again.id), metadata=ALICE)).score
    assert cached.source.file_name == "second-copy.pdf" and len(cached.fragments) == 2
    pages = [e async for e in stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=again.id), metadata=ALICE)]
    assert pages[0].job.pages_done == 2


# --- #3: object references only to the caller's own PDFs, no hash oracle -------------------------


async def test_object_reference_to_another_owners_pdf_looks_unknown(
    gateway: GatewayHandle, stub: jobs_grpc.JobServiceStub
) -> None:
    pdf = blank_pdf(1, label="alice only")
    mine = await create(stub, pdf)
    key = f"pdf/{mine.pdf_sha256[:2]}/{mine.pdf_sha256}.pdf"
    unknown = "ab" + "c" * 62
    answers = []
    for uri in (key, gateway.core.store.uri(key), f"pdf/{unknown[:2]}/{unknown}.pdf"):
        error = await rpc_error(create(stub, b"", auth=BOB, object=omr_pb2.ObjectReference(uri=uri)))
        answers.append((error.code(), details(error), error.details()))
    assert answers[0][0] == grpc.StatusCode.NOT_FOUND
    assert answers[0] == answers[1] == answers[2]  # not yours and unknown say exactly the same
    own = await create(stub, b"", object=omr_pb2.ObjectReference(uri=key))
    assert own.pdf_sha256 == mine.pdf_sha256


# --- #4: no internal detail through gRPC; bad identifiers are INVALID_ARGUMENT --------------------


async def test_bad_identifiers_are_invalid_argument_without_paths(
    gateway: GatewayHandle, stub: jobs_grpc.JobServiceStub, tmp_path: Path
) -> None:
    await create(stub, blank_pdf(1))
    for uri in (
        "pdf",
        "pdf/",
        "x" * 300,
        "pdf/ab/" + "a" * 300 + ".pdf",
        "pdf/\x00/x.pdf",
        "file:///etc/passwd",
    ):
        error = await rpc_error(create(stub, b"", object=omr_pb2.ObjectReference(uri=uri)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (uri, error.details())
        assert str(tmp_path) not in (error.details() or "")
    for job_id in ("a\x00b", "x" * 5000, "F" * 32, "../" * 10):
        for call in (
            stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id), metadata=ALICE),
            stub.CancelJob(jobs_pb2.CancelJobRequest(job_id=job_id), metadata=ALICE),
            stub.GetScore(jobs_pb2.GetScoreRequest(job_id=job_id), metadata=ALICE),
            stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id), metadata=ALICE).read(),
        ):
            error = await rpc_error(call)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and details(error)[0] == "BAD_JOB_ID"
            assert "alice" not in (error.details() or "") and "SELECT" not in (error.details() or "")
    for metadata in ({"file_name": "a\x00b.pdf"}, {"idempotency_key": "k\x00"}):
        error = await rpc_error(stub.CreateJob(iter(upload(blank_pdf(1), **metadata)), metadata=ALICE))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()


async def test_unexpected_errors_are_internal_with_a_request_id_only(
    gateway: GatewayHandle, stub: jobs_grpc.JobServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await create(stub, blank_pdf(1))

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM /srv/etude/objects WHERE owner='alice'")

    monkeypatch.setattr(gateway.core.repo, "get", broken)
    monkeypatch.setattr(gateway.core.repo, "list_jobs", broken)
    for call in (
        stub.GetJob(jobs_pb2.GetJobRequest(job_id=job.id), metadata=ALICE),
        stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=ALICE),
        stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.id), metadata=ALICE).read(),
    ):
        error = await rpc_error(call)
        assert error.code() == grpc.StatusCode.INTERNAL
        message = error.details() or ""
        assert message.startswith("internal error; request id ") and "secret" not in message
        assert "alice" not in message and "/srv" not in message


# --- #9: REST 400, never 500, on out-of-range numbers and NUL bytes -------------------------------


def assert_400(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == reason


async def test_rest_out_of_range_numbers_and_nul_bytes_are_400(client: httpx.AsyncClient) -> None:
    pdf = blank_pdf(1)
    raw = {**REST_ALICE, "content-type": "application/pdf"}
    for query in ("dpi=99999999999", "first_page=2147483648", "page_limit=-1", "dpi=1_0", "dpi=%D9%A3"):
        assert_400(await client.post(f"/v1/jobs?{query}", headers=raw, content=pdf), "BAD_OPTIONS")
    assert_400(await client.post("/v1/jobs?file_name=a%00b.pdf", headers=raw, content=pdf), "BAD_FILE_NAME")
    form = await client.post(
        "/v1/jobs",
        headers=REST_ALICE,
        files={"file": ("ok.pdf", pdf, "application/pdf")},
        data={"idempotency_key": "k\x00"},
    )
    assert_400(form, "BAD_IDEMPOTENCY_KEY")
    assert_400(await client.get("/v1/jobs?page_size=99999999999", headers=REST_ALICE), "BAD_OPTIONS")
    for path in ("/v1/jobs/a%00b", "/v1/jobs/a%00b/score", "/v1/jobs/a%00b/events", "/v1/jobs/" + "a" * 600):
        assert_400(await client.get(path, headers=REST_ALICE), "BAD_JOB_ID")
    assert_400(await client.delete("/v1/jobs/a%00b", headers=REST_ALICE), "BAD_JOB_ID")
    # The job list of alice is as it was: nothing half-created.
    assert (await client.get("/v1/jobs", headers=REST_ALICE)).json()["jobs"] == []


# --- #11: the smaller ones -------------------------------------------------------------------------


async def test_cancel_reasons_are_bounded(client: httpx.AsyncClient, stub: jobs_grpc.JobServiceStub) -> None:
    job = await create(stub, blank_pdf(40))
    huge = "x" * (7 * 1024 * 1024)
    error = await rpc_error(
        stub.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.id, reason=huge), metadata=ALICE)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and details(error)[0] == "BAD_REASON"
    assert_400(await client.delete(f"/v1/jobs/{job.id}?reason={'y' * 501}", headers=REST_ALICE), "BAD_REASON")
    assert_400(await client.delete(f"/v1/jobs/{job.id}?reason=a%00", headers=REST_ALICE), "BAD_REASON")
    ok = await client.delete(f"/v1/jobs/{job.id}?reason=wrong+file", headers=REST_ALICE)
    assert ok.status_code == 200 and ok.json()["job"]["error"] == "wrong file"


async def test_last_event_id_is_strict(client: httpx.AsyncClient, stub: jobs_grpc.JobServiceStub) -> None:
    job = await create(stub, blank_pdf(1))
    for bad in ("9.-5", "-1.0", "1_0.2", "+3.4", "3.4x", "1.2.3", "1e3.0", "x", "9" * 40 + ".1"):
        response = await client.get(f"/v1/jobs/{job.id}/events", headers={**REST_ALICE, "last-event-id": bad})
        assert_400(response, "BAD_LAST_EVENT_ID")


async def test_lowercase_bearer_is_accepted_on_both_apis(
    client: httpx.AsyncClient, stub: jobs_grpc.JobServiceStub
) -> None:
    lower = {"authorization": "bearer token-alice"}
    assert (await client.get("/v1/jobs", headers=lower)).status_code == 200
    await stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=tuple(lower.items()))
    assert (await client.get("/v1/jobs", headers={"authorization": "Basic token-alice"})).status_code == 401


async def test_multipart_rfc5987_file_name(client: httpx.AsyncClient) -> None:
    pdf = blank_pdf(1)
    boundary = "etude-boundary"
    body = (
        (
            f"--{boundary}\r\n"
            "Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''%D0%BD%D0%BE%D1%82%D1%8B.pdf\r\n"
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + pdf
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = await client.post(
        "/v1/jobs",
        headers={**REST_ALICE, "content-type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    assert response.status_code == 201, response.text
    assert response.json()["job"]["file_name"] == "ноты.pdf"
    broken = body.replace(b"UTF-8''%D0%BD", b"UTF-8''%FF%FE")
    response = await client.post(
        "/v1/jobs",
        headers={**REST_ALICE, "content-type": f"multipart/form-data; boundary={boundary}"},
        content=broken,
    )
    assert_400(response, "BAD_MULTIPART")


@pytest.fixture
async def idle_gateway(tmp_path: Path) -> AsyncIterator[GatewayHandle]:
    """No workers (jobs stay PENDING, so streams stay open), tight stream caps and header timeout."""
    handle = await start_gateway(
        gateway_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}",
            str(tmp_path / "objects"),
            "127.0.0.1:1",
            workers=0,
            max_streams_per_job=2,
            max_streams_per_owner=3,
            header_timeout_seconds=0.5,
            watch_poll_seconds=0.05,
        )
    )
    yield handle
    await handle.stop(grace=1)


async def test_watch_streams_are_capped_per_job_and_owner(idle_gateway: GatewayHandle) -> None:
    async with (
        httpx.AsyncClient(base_url=idle_gateway.http_url, timeout=10) as client,
        grpc.aio.insecure_channel(idle_gateway.grpc_address) as channel,
    ):
        stub = jobs_grpc.JobServiceStub(channel)
        first = await create(stub, blank_pdf(1, label="a"))
        second = await create(stub, blank_pdf(1, label="b"))
        streams = [client.stream("GET", f"/v1/jobs/{first.id}/events", headers=REST_ALICE) for _ in range(2)]
        opened = [await s.__aenter__() for s in streams]
        assert all(r.status_code == 200 for r in opened)
        too_many = await client.get(f"/v1/jobs/{first.id}/events", headers=REST_ALICE)
        assert too_many.status_code == 429 and too_many.json()["reason"] == "TOO_MANY_STREAMS"
        error = await rpc_error(
            stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=first.id), metadata=ALICE).read()
        )
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The owner's cap counts streams on all its jobs: a third stream on another job is refused too...
        third = stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=second.id), metadata=ALICE)
        await third.read()
        refused = await client.get(f"/v1/jobs/{second.id}/events", headers=REST_ALICE)
        assert refused.status_code == 429
        # ...another owner is not affected, and a closed stream gives its slot back.
        assert (await client.get("/v1/jobs", headers=REST_BOB)).status_code == 200
        third.cancel()
        await streams[0].__aexit__(None, None, None)
        deadline = asyncio.get_running_loop().time() + 5
        while idle_gateway.core.streams.open_streams("alice") > 1:
            assert asyncio.get_running_loop().time() < deadline, "slots were not given back"
            await asyncio.sleep(0.02)
        again = client.stream("GET", f"/v1/jobs/{first.id}/events", headers=REST_ALICE)
        assert (await again.__aenter__()).status_code == 200
        await again.__aexit__(None, None, None)
        await streams[1].__aexit__(None, None, None)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


async def test_half_sent_headers_are_cut_off(idle_gateway: GatewayHandle) -> None:
    port = idle_gateway.http_port

    def probe() -> tuple[bool, bool, bytes]:
        with (
            socket.create_connection(("127.0.0.1", port)) as silent,
            socket.create_connection(("127.0.0.1", port)) as slow,
        ):
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            cut = _closed_within(slow, 3.0), _closed_within(silent, 3.0)
        with socket.create_connection(("127.0.0.1", port)) as fine:
            fine.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            fine.settimeout(3.0)
            return (*cut, fine.recv(1024))

    slow_cut, silent_cut, answer = await asyncio.to_thread(probe)
    assert slow_cut and silent_cut
    assert answer.startswith(b"HTTP/1.1 200")


async def test_client_disconnects_are_info_not_error(
    idle_gateway: GatewayHandle, caplog: pytest.LogCaptureFixture
) -> None:
    port = idle_gateway.http_port

    def hang_up() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer token-alice\r\n"
                b"Content-Type: application/pdf\r\nContent-Length: 100000\r\n\r\n%PDF-1.4 only a little"
            )

    with caplog.at_level(logging.INFO):
        await asyncio.to_thread(hang_up)
        await asyncio.sleep(0.5)
    gone = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert gone and all(r.levelno == logging.INFO and not r.exc_info for r in gone)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
