"""Request ids in logs and headers, Prometheus metrics and gzip, over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.server import GatewayHandle, start_gateway
from tests.gateway.conftest import OmrProcess, gateway_settings, wait_until
from tests.gateway.pdfs import blank_pdf

ALICE = {"authorization": "Bearer token-alice"}


@pytest.fixture
async def client(tmp_path: Path, omr: OmrProcess) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}"
    handle: GatewayHandle = await start_gateway(gateway_settings(url, str(tmp_path / "objects"), omr.address))
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=30) as client:
        yield client
    await handle.stop(grace=1)


async def _finished_job(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    created = await client.post(
        "/v1/jobs", headers=headers, files={"file": ("two.pdf", blank_pdf(2), "application/pdf")}
    )
    assert created.status_code == 201, created.text
    job_id: str = created.json()["job"]["id"]

    async def done() -> bool:
        job = (await client.get(f"/v1/jobs/{job_id}", headers=headers)).json()["job"]
        return bool(job["state"] == "JOB_STATE_OMR_COMPLETED")

    await wait_until(done)
    return job_id


async def test_request_id_is_echoed_and_carried_by_log_records(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    given = {**ALICE, "x-request-id": "req-test-42"}
    job_id = await _finished_job(client, given)

    created = [r for r in caplog.records if r.getMessage() == f"job {job_id} created"]
    assert [getattr(r, "request_id", None) for r in created] == ["req-test-42"]
    # The worker's lines carry the job id (and not the request id of whoever created the job).
    stored = [
        r for r in caplog.records if r.getMessage().startswith("page ") and r.name == "gateway.jobs.worker"
    ]
    assert len(stored) == 2 and {getattr(r, "job_id", None) for r in stored} == {job_id}
    assert {getattr(r, "request_id", None) for r in stored} == {None}

    echoed = await client.get(f"/v1/jobs/{job_id}", headers=given)
    assert echoed.headers["x-request-id"] == "req-test-42"
    generated = await client.get(f"/v1/jobs/{job_id}", headers=ALICE)
    assert len(generated.headers["x-request-id"]) == 32
    junk = await client.get(f"/v1/jobs/{job_id}", headers={**ALICE, "x-request-id": "bad id\twith spaces"})
    assert junk.headers["x-request-id"] != "bad id\twith spaces"


async def test_metrics_expose_request_latency_jobs_and_pages(client: httpx.AsyncClient) -> None:
    job_id = await _finished_job(client, ALICE)
    await client.get(f"/v1/jobs/{job_id}", headers=ALICE)
    text = (await client.get("/metrics")).text
    assert (
        'etude_gateway_http_request_seconds_count{method="GET",route="/v1/jobs/{job_id}",status="200"}'
        in text
    )
    assert 'route="/v1/jobs",status="201"' in text
    assert job_id not in text  # route templates, never paths
    for name in (
        'etude_gateway_job_transitions_total{state="OMR_PROCESSING"}',
        'etude_gateway_job_transitions_total{state="OMR_COMPLETED"}',
        'etude_gateway_job_seconds_count{state="OMR_COMPLETED"}',
        "etude_gateway_pages_stored_total",
        "etude_gateway_omr_retries_total",
    ):
        line = next((line for line in text.splitlines() if line.startswith(name + " ")), None)
        assert line is not None, name
    completed = next(
        line
        for line in text.splitlines()
        if line.startswith('etude_gateway_job_seconds_count{state="OMR_COMPLETED"}')
    )
    assert float(completed.split()[-1]) >= 1


async def test_gzip_for_static_files_and_json_but_not_event_streams(client: httpx.AsyncClient) -> None:
    script = await client.get("/app.js", headers={"accept-encoding": "gzip"})
    assert script.status_code == 200 and script.headers["content-encoding"] == "gzip"
    assert int(script.headers["content-length"]) < len(script.content)  # httpx decoded it
    openapi = await client.get("/openapi.json", headers={"accept-encoding": "gzip"})
    assert openapi.headers["content-encoding"] == "gzip" and openapi.json()["openapi"]

    job_id = await _finished_job(client, ALICE)
    async with client.stream(
        "GET", f"/v1/jobs/{job_id}/events", headers={**ALICE, "accept-encoding": "gzip"}
    ) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in events.headers
        body = b"".join([chunk async for chunk in events.aiter_raw()])
    assert b"event: " in body  # plain text on the wire
