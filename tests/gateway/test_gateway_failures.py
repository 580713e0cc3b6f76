"""Failures the gateway must ride out, each with real parts: an OMR server killed mid-document,
a gateway process killed mid-job, the object store gone for a while, a cancel mid-processing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from etude.ir.v1 import score_pb2
from sqlalchemy import func, select

from gateway.jobs.records import JobState
from gateway.server import GatewayHandle, start_gateway
from storage.tables import job_pages
from tests.gateway.conftest import ROOT, OmrProcess, gateway_settings, wait_until
from tests.gateway.pdfs import blank_pdf
from tests.storage.fixtures import free_port, moto_s3


@pytest.fixture
def slow_omr(tmp_path: Path) -> Iterator[OmrProcess]:
    process = OmrProcess(free_port(), page_delay=0.25, log=tmp_path / "omr-requests.jsonl")
    process.start()
    yield process
    process.kill()


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Any]:
    handles: list[GatewayHandle] = []

    async def starter(database_url: str, omr: OmrProcess | str, **overrides: Any) -> GatewayHandle:
        objects = overrides.pop("objects", str(tmp_path / "objects"))
        address = omr if isinstance(omr, str) else omr.address
        handle = await start_gateway(gateway_settings(database_url, objects, address, **overrides))
        handles.append(handle)
        return handle

    yield starter
    for handle in handles:
        await handle.stop(grace=1)


async def state_of(handle: GatewayHandle, job_id: str) -> Any:
    return (await handle.core.repo.get("alice", job_id)).to_proto()


async def assert_every_page_once(handle: GatewayHandle, job_id: str, pages: int) -> score_pb2.Score:
    async with handle.core.engine.connect() as connection:
        rows = await connection.scalar(select(func.count()).where(job_pages.c.job_id == job_id))
    assert rows == pages
    score = score_pb2.Score.FromString((await handle.core.results.get("alice", job_id, "pb")).content)
    assert [f.page_index for f in score.fragments] == list(range(pages))
    assert len({n.id for n in score.notes}) == len(score.notes) == 5 * pages
    return score


async def test_omr_server_killed_mid_document_and_restarted(
    database_url: str, slow_omr: OmrProcess, start: Any
) -> None:
    gateway = await start(database_url, slow_omr)
    job_id = (await gateway.core.repo.create("alice", blank_pdf(6))).row["id"]

    async def some_pages() -> bool:
        return (await state_of(gateway, job_id)).pages_done >= 2

    await wait_until(some_pages)
    slow_omr.kill()
    await asyncio.sleep(0.8)  # the gateway meets UNAVAILABLE and backs off meanwhile
    stored_while_down = (await state_of(gateway, job_id)).pages_done
    slow_omr.start()

    async def completed() -> bool:
        return (await state_of(gateway, job_id)).state == JobState.OMR_COMPLETED.to_proto()

    await wait_until(completed)
    job = await state_of(gateway, job_id)
    assert job.attempts == 1  # retried within the attempt, not failed
    await assert_every_page_once(gateway, job_id, 6)
    resumed = [r["first_page"] for r in slow_omr.requests()]
    assert resumed[0] == 0 and resumed[-1] == stored_while_down  # resumed at the first missing page


async def test_gateway_killed_mid_job_is_finished_by_another(
    postgres_url: str, slow_omr: OmrProcess, start: Any, tmp_path: Path
) -> None:
    objects = str(tmp_path / "objects")
    env = {
        **os.environ,
        "ETUDE_GATEWAY_DATABASE_URL": postgres_url,
        "ETUDE_GATEWAY_OBJECT_STORE_URL": objects,
        "ETUDE_GATEWAY_OMR_ADDRESS": slow_omr.address,
        "ETUDE_GATEWAY_TOKENS": json.dumps({"token-alice": "alice"}),
        "ETUDE_GATEWAY_GRPC_PORT": "0",
        "ETUDE_GATEWAY_HTTP_PORT": "0",
        "ETUDE_GATEWAY_LEASE_SECONDS": "1.5",
        "ETUDE_GATEWAY_POLL_SECONDS": "0.1",
        "ETUDE_GATEWAY_WORKERS": "1",
        "ETUDE_GATEWAY_WORKER_ID": "doomed",
    }
    doomed = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert doomed.stdout is not None
        assert doomed.stdout.readline().startswith("gateway: gRPC"), "the gateway subprocess did not start"
        # This process serves the API only until the other gateway is gone.
        survivor = await start(postgres_url, slow_omr, objects=objects, workers=0, lease_seconds=1.5)
        job_id = (await survivor.core.repo.create("alice", blank_pdf(6))).row["id"]

        async def some_pages() -> bool:
            return (await state_of(survivor, job_id)).pages_done >= 2

        await wait_until(some_pages)
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    job = await state_of(survivor, job_id)
    assert job.state == JobState.OMR_PROCESSING.to_proto()  # still leased by the dead worker
    done_by_dead = job.pages_done

    taker = await start(postgres_url, slow_omr, objects=objects, lease_seconds=1.5, worker_id="taker")

    async def completed() -> bool:
        return (await state_of(taker, job_id)).state == JobState.OMR_COMPLETED.to_proto()

    await wait_until(completed)
    job = await state_of(taker, job_id)
    assert job.attempts == 2
    assert any("expired" in t.reason and "doomed" in t.reason for t in job.transitions)
    await assert_every_page_once(taker, job_id, 6)
    assert slow_omr.requests()[-1]["first_page"] >= done_by_dead


@pytest.fixture
def s3() -> Iterator[tuple[Any, str]]:
    with moto_s3() as server:
        yield server


async def test_object_store_outage_is_retried_not_failed(
    tmp_path: Path, slow_omr: OmrProcess, start: Any, s3: tuple[Any, str]
) -> None:
    from moto.server import ThreadedMotoServer

    server, endpoint = s3
    gateway = await start(
        f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}",
        slow_omr,
        objects="s3://etude-test/gateway",
        s3_endpoint_url=endpoint,
        s3_create_bucket=True,
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
    )
    job_id = (await gateway.core.repo.create("alice", blank_pdf(5))).row["id"]

    async def some_pages() -> bool:
        return (await state_of(gateway, job_id)).pages_done >= 1

    await wait_until(some_pages)
    server.stop()
    revived = ThreadedMotoServer(ip_address="127.0.0.1", port=int(endpoint.rsplit(":", 1)[1]), verbose=False)
    timer = threading.Timer(2.5, revived.start)
    timer.start()
    try:

        async def completed() -> bool:
            return (await state_of(gateway, job_id)).state == JobState.OMR_COMPLETED.to_proto()

        await wait_until(completed)
    finally:
        timer.join()
        revived.stop()
        server.start()
    job = await state_of(gateway, job_id)
    assert JobState.OMR_FAILED.to_proto() not in [t.to_state for t in job.transitions]
    await assert_every_page_once(gateway, job_id, 5)


async def test_cancel_during_processing(tmp_path: Path, slow_omr: OmrProcess, start: Any) -> None:
    gateway = await start(f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}", slow_omr)
    job_id = (await gateway.core.repo.create("alice", blank_pdf(8))).row["id"]

    async def some_pages() -> bool:
        return (await state_of(gateway, job_id)).pages_done >= 1

    await wait_until(some_pages)
    cancelled = await gateway.core.repo.cancel("alice", job_id, "not needed after all")
    assert cancelled.state is JobState.CANCELLED
    pages_at_cancel = cancelled.row["pages_done"]
    await asyncio.sleep(1.0)  # four page times: a worker that kept going would store more
    job = await state_of(gateway, job_id)
    assert job.state == JobState.CANCELLED.to_proto() and job.error == "not needed after all"
    assert job.pages_done == pages_at_cancel

    # The worker is free again: the next job runs to completion.
    next_id = (await gateway.core.repo.create("alice", blank_pdf(1, label="next"))).row["id"]

    async def completed() -> bool:
        return (await state_of(gateway, next_id)).state == JobState.OMR_COMPLETED.to_proto()

    await wait_until(completed)


async def test_jobs_spread_over_several_omr_servers(tmp_path: Path, start: Any) -> None:
    """A comma list of OMR servers is one round-robin channel: both servers get work."""
    servers = [OmrProcess(free_port(), page_delay=0.02, log=tmp_path / f"omr-{n}.jsonl") for n in range(2)]
    for server in servers:
        server.start()
    try:
        both = ",".join(s.address for s in servers)
        gateway = await start(
            f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}", both, workers=2, results_cache=False
        )
        ids = [
            (await gateway.core.repo.create("alice", blank_pdf(1, label=str(n)))).row["id"] for n in range(6)
        ]

        async def all_done() -> bool:
            states = [(await state_of(gateway, job_id)).state for job_id in ids]
            return all(s == JobState.OMR_COMPLETED.to_proto() for s in states)

        await wait_until(all_done)
        assert all(server.requests() for server in servers)
    finally:
        for server in servers:
            server.kill()


async def test_upload_while_store_is_down_is_503_and_stores_no_row(
    tmp_path: Path, omr: OmrProcess, start: Any, s3: tuple[Any, str]
) -> None:
    import httpx

    server, endpoint = s3
    gateway = await start(
        f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}",
        omr,
        objects="s3://etude-test/down",
        s3_endpoint_url=endpoint,
        s3_create_bucket=True,
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
        store_retry_seconds=1.0,
    )
    server.stop()
    try:
        async with httpx.AsyncClient(base_url=gateway.http_url, timeout=30) as client:
            response = await client.post(
                "/v1/jobs",
                content=blank_pdf(1),
                headers={"authorization": "Bearer token-alice", "content-type": "application/pdf"},
            )
    finally:
        server.start()
    assert response.status_code == 503 and response.json()["reason"] == "STORE_DOWN"
    assert (await gateway.core.repo.list_jobs("alice"))[0] == []


async def test_omr_down_past_the_retries_releases_the_job_until_it_is_back(
    tmp_path: Path, start: Any
) -> None:
    omr = OmrProcess(free_port(), page_delay=0.02, log=tmp_path / "late-omr.jsonl")  # not started yet
    gateway = await start(
        f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}",
        omr,
        omr_retries=1,
        omr_info_deadline_seconds=0.3,
        retry_delay_seconds=0.2,
        max_attempts=50,
    )
    job_id = (await gateway.core.repo.create("alice", blank_pdf(2))).row["id"]

    async def released() -> bool:
        job = await state_of(gateway, job_id)
        return job.attempts >= 2 and job.state != JobState.OMR_FAILED.to_proto()

    await wait_until(released)
    omr.start()
    try:

        async def completed() -> bool:
            return (await state_of(gateway, job_id)).state == JobState.OMR_COMPLETED.to_proto()

        await wait_until(completed)
    finally:
        omr.kill()
    job = await state_of(gateway, job_id)
    back_to_pending = [
        t for t in job.transitions if t.to_state == JobState.PENDING.to_proto() and "retrying" in t.reason
    ]
    assert back_to_pending and all("OMR server" in t.reason for t in back_to_pending)
