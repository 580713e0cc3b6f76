"""Property tests (hypothesis) of every client-supplied request field on both APIs, on SQLite and
real Postgres: whatever the strings and numbers, the answer is a success or a clear client error
(4xx problem+json; a gRPC status other than UNKNOWN/INTERNAL), never a server error.

Hypothesis drives synchronous clients in a thread while the gateway serves on the test's loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import grpc
import httpx
import pytest
from etude.jobs.v1 import job_service_pb2 as jobs_pb2
from etude.jobs.v1 import job_service_pb2_grpc as jobs_grpc
from etude.omr.v1 import omr_service_pb2 as omr_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.server import GatewayHandle, start_gateway
from tests.gateway.conftest import gateway_settings
from tests.gateway.pdfs import blank_pdf

PROPERTY = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
ALICE = {"authorization": "Bearer token-alice"}
PDF = blank_pdf(1, label="property")
SERVER_ERRORS = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}

# Anything a client can put in a string field (NUL, controls, astral planes), long ones too.
texts = st.one_of(
    st.text(max_size=40), st.text(max_size=700), st.sampled_from(["a\x00b", "9.-5", "pdf", ".."])
)
# What fits in an HTTP header value.
header_texts = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=300)
numbers = st.one_of(
    st.integers(),
    st.integers(-(2**31), 2**31 - 1),
    st.sampled_from([2**31, 2**63, 99999999999]),
    texts,
)
int32s = st.integers(-(2**31), 2**31 - 1)


@pytest.fixture
async def gateway(database_url: str, tmp_path: Path) -> AsyncIterator[GatewayHandle]:
    # No workers: jobs stay PENDING, so the properties see the APIs alone, quickly.
    handle = await start_gateway(
        gateway_settings(database_url, str(tmp_path / "objects"), "127.0.0.1:1", workers=0)
    )
    yield handle
    await handle.stop(grace=1)


def assert_client_error_at_worst(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text


def rest_properties(base_url: str, job_id: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:

        def opened(url: str, headers: dict[str, str]) -> httpx.Response:
            """The status of an event stream, which is closed right after its headers (a
            stream on a job that never ends, as here without workers, would never finish)."""
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                return response

        @PROPERTY
        @given(file_name=texts, dpi=numbers, first_page=numbers, page_limit=numbers, key=texts)
        def create(file_name: str, dpi: object, first_page: object, page_limit: object, key: str) -> None:
            params = {"file_name": file_name, "dpi": dpi, "first_page": first_page, "page_limit": page_limit}
            raw = client.post(
                "/v1/jobs",
                params={k: str(v) for k, v in params.items()},
                headers={**ALICE, "content-type": "application/pdf"},
                content=PDF,
            )
            assert_client_error_at_worst(raw)
            form = client.post(
                "/v1/jobs",
                headers=ALICE,
                files={"file": ("x.pdf", PDF, "application/pdf")},
                data={"idempotency_key": key, "file_name": file_name, "dpi": str(dpi)},
            )
            assert_client_error_at_worst(form)

        @PROPERTY
        @given(key=header_texts, last_event_id=header_texts, authorization=header_texts)
        def headers(key: str, last_event_id: str, authorization: str) -> None:
            created = client.post(
                "/v1/jobs",
                headers={**ALICE, "content-type": "application/pdf", "idempotency-key": key},
                content=PDF,
            )
            assert_client_error_at_worst(created)
            assert_client_error_at_worst(client.get("/v1/jobs", headers={"authorization": authorization}))
            assert_client_error_at_worst(
                opened(f"/v1/jobs/{job_id}/events", headers={**ALICE, "last-event-id": last_event_id})
            )

        @PROPERTY
        @given(job=texts, reason=texts, page_size=numbers, page_token=texts, state=texts)
        def job_fields(job: str, reason: str, page_size: object, page_token: str, state: str) -> None:
            path = quote(job, safe="")
            for method, suffix in (("GET", ""), ("GET", "/score"), ("DELETE", "")):
                assert_client_error_at_worst(
                    client.request(method, f"/v1/jobs/{path}{suffix}", headers=ALICE)
                )
            assert_client_error_at_worst(opened(f"/v1/jobs/{path}/events", headers=ALICE))
            cancel = client.delete(f"/v1/jobs/{job_id}", params={"reason": reason}, headers=ALICE)
            assert_client_error_at_worst(cancel)
            listed = client.get(
                "/v1/jobs",
                params={"page_size": str(page_size), "page_token": page_token, "state": state},
                headers=ALICE,
            )
            assert_client_error_at_worst(listed)

        create()
        headers()
        job_fields()


def grpc_properties(address: str, job_id: str) -> None:
    metadata = tuple(ALICE.items())
    with grpc.insecure_channel(address) as channel:
        stub = jobs_grpc.JobServiceStub(channel)

        def no_server_error(call: object) -> None:
            try:
                call() if callable(call) else None
            except grpc.RpcError as error:
                assert error.code() not in SERVER_ERRORS, error.details()  # type: ignore[attr-defined]

        @PROPERTY
        @given(file_name=texts, key=texts, dpi=int32s, first=int32s, limit=int32s, uri=texts, sha=texts)
        def create(file_name: str, key: str, dpi: int, first: int, limit: int, uri: str, sha: str) -> None:
            options = omr_pb2.RecognitionOptions(dpi=dpi, first_page=first, page_limit=limit)
            base = jobs_pb2.CreateJobMetadata(file_name=file_name, idempotency_key=key, options=options)
            chunks = [jobs_pb2.CreateJobRequest(metadata=base), jobs_pb2.CreateJobRequest(chunk=PDF)]
            no_server_error(lambda: stub.CreateJob(iter(chunks), metadata=metadata, timeout=30))
            by_reference = jobs_pb2.CreateJobMetadata(
                file_name=file_name, object=omr_pb2.ObjectReference(uri=uri, sha256=sha)
            )
            request = [jobs_pb2.CreateJobRequest(metadata=by_reference)]
            no_server_error(lambda: stub.CreateJob(iter(request), metadata=metadata, timeout=30))

        @PROPERTY
        @given(job=texts, reason=texts, page_size=int32s, token=texts, state=int32s, fmt=int32s)
        def job_fields(job: str, reason: str, page_size: int, token: str, state: int, fmt: int) -> None:
            no_server_error(lambda: stub.GetJob(jobs_pb2.GetJobRequest(job_id=job), metadata=metadata))
            no_server_error(
                lambda: stub.CancelJob(
                    jobs_pb2.CancelJobRequest(job_id=job_id, reason=reason), metadata=metadata
                )
            )
            no_server_error(
                lambda: stub.GetScore(jobs_pb2.GetScoreRequest(job_id=job, format=fmt), metadata=metadata)  # type: ignore[arg-type]
            )
            listing = jobs_pb2.ListJobsRequest(page_size=page_size, page_token=token, state=state)  # type: ignore[arg-type]
            no_server_error(lambda: stub.ListJobs(listing, metadata=metadata))
            if job != job_id:
                watch = stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job), metadata=metadata, timeout=10)
                no_server_error(lambda: next(iter(watch)))

        create()
        job_fields()


async def first_job(gateway: GatewayHandle) -> str:
    async with httpx.AsyncClient(base_url=gateway.http_url) as client:
        response = await client.post(
            "/v1/jobs", headers={**ALICE, "content-type": "application/pdf"}, content=PDF
        )
    return str(response.json()["job"]["id"])


async def test_rest_fields_never_cause_server_errors(gateway: GatewayHandle) -> None:
    await asyncio.to_thread(rest_properties, gateway.http_url, await first_job(gateway))


async def test_grpc_fields_never_cause_server_errors(gateway: GatewayHandle) -> None:
    await asyncio.to_thread(grpc_properties, gateway.grpc_address, await first_job(gateway))
