"""What the web page reads besides the job and its score, over real HTTP against the gateway and
the OMR test double: the uploaded PDF, one page's score before the job completes, and the
unauthenticated config. Owner checks as on every other job endpoint: another owner's job is a
404, the same answer as a job that does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.server import GatewayHandle, start_gateway
from tests.gateway.conftest import OmrProcess, gateway_settings, wait_until
from tests.gateway.pdfs import blank_pdf
from tests.storage.fixtures import free_port

ALICE = {"authorization": "Bearer token-alice"}
BOB = {"authorization": "Bearer token-bob"}
MISSING = "0" * 32


@pytest.fixture
def omr(tmp_path: Path) -> Iterator[OmrProcess]:
    # One page every second: time to ask for page 1 while page 2 is still being read.
    process = OmrProcess(free_port(), page_delay=1.0, log=tmp_path / "omr.jsonl")
    process.start()
    yield process
    process.kill()


async def _client(tmp_path: Path, omr: OmrProcess, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}"
    handle: GatewayHandle = await start_gateway(
        gateway_settings(url, str(tmp_path / "objects"), omr.address, **overrides)
    )
    try:
        async with httpx.AsyncClient(base_url=handle.http_url, timeout=30) as client:
            yield client
    finally:
        await handle.stop(grace=1)


@pytest.fixture
async def client(tmp_path: Path, omr: OmrProcess) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(tmp_path, omr):
        yield client


def assert_problem(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == reason


async def _create(client: httpx.AsyncClient, pdf: bytes, pages: int = 0) -> str:
    params = {"page_limit": str(pages)} if pages else {}
    response = await client.post(
        "/v1/jobs", headers=ALICE, files={"file": ("three.pdf", pdf, "application/pdf")}, data=params
    )
    assert response.status_code == 201, response.text
    return str(response.json()["job"]["id"])


async def test_the_pdf_goes_back_to_its_owner_only(client: httpx.AsyncClient) -> None:
    pdf = blank_pdf(3)
    job_id = await _create(client, pdf)

    mine = await client.get(f"/v1/jobs/{job_id}/pdf", headers=ALICE)
    assert mine.status_code == 200
    assert mine.headers["content-type"] == "application/pdf"
    assert mine.content == pdf

    # Another owner, no job, a malformed id, no token: the answers the other endpoints give.
    assert_problem(await client.get(f"/v1/jobs/{job_id}/pdf", headers=BOB), 404, "NO_SUCH_JOB")
    assert_problem(await client.get(f"/v1/jobs/{MISSING}/pdf", headers=ALICE), 404, "NO_SUCH_JOB")
    assert_problem(await client.get("/v1/jobs/not-an-id/pdf", headers=ALICE), 400, "BAD_JOB_ID")
    assert_problem(await client.get(f"/v1/jobs/{job_id}/pdf"), 401, "NO_TOKEN")


async def test_a_page_score_comes_before_the_job_completes(client: httpx.AsyncClient) -> None:
    job_id = await _create(client, blank_pdf(3))
    first = f"/v1/jobs/{job_id}/pages/0/score"

    async def first_page_read() -> bool:
        return (await client.get(first, headers=ALICE)).status_code == 200

    await wait_until(first_page_read, timeout=30)
    # asked at once, while the last page is still being read (the MusicXML export below can take
    # longer than a page on a busy machine: its first use imports music21)
    assert_problem(await client.get(f"/v1/jobs/{job_id}/pages/2/score", headers=ALICE), 409, "PAGE_NOT_READ")
    job = (await client.get(f"/v1/jobs/{job_id}", headers=ALICE)).json()["job"]
    assert job["state"] != "JOB_STATE_OMR_COMPLETED", "the page's score came only with the whole job"

    ir = (await client.get(first, headers=ALICE)).json()
    assert ir["notes"] and all(note.get("measure_index", 0) < 2 for note in ir["notes"])
    musicxml = await client.get(first, headers=ALICE, params={"format": "musicxml"})
    assert musicxml.status_code == 200 and b"<score-partwise" in musicxml.content

    assert_problem(await client.get(first, headers=BOB), 404, "NO_SUCH_JOB")
    assert_problem(
        await client.get(f"/v1/jobs/{job_id}/pages/-1/score", headers=ALICE), 400, "BAD_PAGE_INDEX"
    )
    assert_problem(await client.get(first, headers=ALICE, params={"format": "midi"}), 400, "BAD_FORMAT")


async def test_the_config_says_whether_tokens_are_required(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/config")  # no token: the page asks before it has one
    assert response.status_code == 200
    assert response.json() == {"auth_required": True}
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/v1/jobs/{job_id}/pdf", "/v1/jobs/{job_id}/pages/{page_index}/score", "/v1/config"} <= set(paths)


async def test_without_tokens_the_config_says_so(tmp_path: Path, omr: OmrProcess) -> None:
    async for client in _client(tmp_path, omr, tokens={}):
        assert (await client.get("/v1/config")).json() == {"auth_required": False}
