"""The REST API over real HTTP (uvicorn on loopback): uploads, SSE, scores, problem+json errors,
OpenAPI and the static web page."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.server import GatewayHandle, start_gateway
from tests.gateway.conftest import OmrProcess, gateway_settings
from tests.gateway.pdfs import blank_pdf

ALICE = {"authorization": "Bearer token-alice"}
BOB = {"authorization": "Bearer token-bob"}


@pytest.fixture
async def gateway(tmp_path: Path, omr: OmrProcess) -> AsyncIterator[GatewayHandle]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}"
    handle = await start_gateway(
        gateway_settings(url, str(tmp_path / "objects"), omr.address, max_pdf_bytes=300_000)
    )
    yield handle
    await handle.stop(grace=1)


@pytest.fixture
async def client(gateway: GatewayHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=30) as client:
        yield client


async def sse_events(client: httpx.AsyncClient, job_id: str, headers: dict[str, str]) -> list[dict[str, str]]:
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
                continue
            name, _, value = line.partition(": ")
            current[name] = value
    return events


def assert_problem(response: httpx.Response, status: int, reason: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if reason:
        assert body["reason"] == reason
    return body


async def test_rest_lifecycle(client: httpx.AsyncClient) -> None:
    pdf = blank_pdf(2)
    response = await client.post(
        "/v1/jobs",
        headers=ALICE,
        files={"file": ("two.pdf", pdf, "application/pdf")},
        data={"dpi": "150", "idempotency_key": "k-1"},
    )
    assert response.status_code == 201, response.text
    job = response.json()["job"]
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert (
        job["state"] == "JOB_STATE_PENDING" and job["file_name"] == "two.pdf" and job["options"]["dpi"] == 150
    )

    replay = await client.post(
        "/v1/jobs",
        headers=ALICE,
        files={"file": ("two.pdf", pdf, "application/pdf")},
        data={"idempotency_key": "k-1"},
    )
    assert replay.status_code == 200 and replay.json()["job"]["id"] == job["id"]

    events = await sse_events(client, job["id"], ALICE)
    kinds = [e["event"] for e in events]
    first = json.loads(events[0]["data"])["job"]
    assert kinds[0] == "job" and kinds.count("page") == 2 - first["pages_done"] and kinds[-1] == "transition"
    final = json.loads(events[-1]["data"])
    assert final["job"]["state"] == "JOB_STATE_OMR_COMPLETED"
    assert final["transition"]["to_state"] == "JOB_STATE_OMR_COMPLETED"
    # Resuming from the last event id sends nothing already seen.
    assert [
        e["event"] for e in await sse_events(client, job["id"], {**ALICE, "last-event-id": events[-1]["id"]})
    ] == []

    got = (await client.get(f"/v1/jobs/{job['id']}", headers=ALICE)).json()["job"]
    assert got["pages_done"] == 2 and got["page_count"] == 2
    score = await client.get(f"/v1/jobs/{job['id']}/score", headers=ALICE)
    assert score.status_code == 200 and score.headers["content-type"].startswith("application/json")
    assert len(score.json()["fragments"]) == 2
    musicxml = await client.get(f"/v1/jobs/{job['id']}/score?format=musicxml", headers=ALICE)
    assert musicxml.status_code == 200 and b"<score-partwise" in musicxml.content
    midi = await client.get(f"/v1/jobs/{job['id']}/score", params={"format": "midi"}, headers=ALICE)
    assert midi.status_code == 200 and midi.content.startswith(b"MThd")
    assert_problem(
        await client.get(f"/v1/jobs/{job['id']}/score?format=pdf", headers=ALICE), 400, "BAD_FORMAT"
    )
    assert_problem(await client.delete(f"/v1/jobs/{job['id']}", headers=ALICE), 409, "JOB_ENDED")

    raw = await client.post(
        "/v1/jobs?file_name=raw.pdf&page_limit=1",
        headers={**ALICE, "content-type": "application/pdf"},
        content=blank_pdf(3, label="raw"),
    )
    assert raw.status_code == 201 and raw.json()["job"]["options"]["page_limit"] == 1
    listed = (await client.get("/v1/jobs", params={"page_size": 1}, headers=ALICE)).json()
    assert [j["id"] for j in listed["jobs"]] == [raw.json()["job"]["id"]] and listed["next_page_token"]
    completed = (await client.get("/v1/jobs?state=OMR_COMPLETED", headers=ALICE)).json()["jobs"]
    assert job["id"] in [j["id"] for j in completed]


async def test_rest_errors_are_problem_json(client: httpx.AsyncClient) -> None:
    pdf = blank_pdf(1)
    assert_problem(await client.get("/v1/jobs"), 401, "NO_TOKEN")
    assert_problem(await client.get("/v1/jobs", headers={"authorization": "Bearer wrong"}), 401, "BAD_TOKEN")
    text = await client.post("/v1/jobs", headers={**ALICE, "content-type": "text/plain"}, content=b"hello")
    assert_problem(text, 415)
    fake = await client.post(
        "/v1/jobs", headers={**ALICE, "content-type": "application/pdf"}, content=b"hello"
    )
    assert_problem(fake, 400, "NOT_A_PDF")
    big = await client.post(
        "/v1/jobs", headers={**ALICE, "content-type": "application/pdf"}, content=b"%PDF-1.4" + b"0" * 400_000
    )
    assert_problem(big, 413, "PDF_TOO_LARGE")
    wrong_part = await client.post("/v1/jobs", headers=ALICE, files={"file": ("a.txt", b"hi", "text/plain")})
    assert_problem(wrong_part, 415, "NOT_A_PDF")
    no_file = await client.post("/v1/jobs", headers=ALICE, files={"other": ("a.pdf", pdf, "application/pdf")})
    assert_problem(no_file, 400, "NO_FILE")
    bad_option = await client.post(
        "/v1/jobs?dpi=high", headers={**ALICE, "content-type": "application/pdf"}, content=pdf
    )
    assert_problem(bad_option, 400, "BAD_OPTIONS")
    assert_problem(await client.get("/v1/jobs?page_token=zzz", headers=ALICE), 400, "BAD_PAGE_TOKEN")
    assert_problem(await client.get("/v1/jobs?state=DONE", headers=ALICE), 400, "BAD_STATE")
    assert_problem(await client.get("/v1/jobs/" + "0" * 32, headers=ALICE), 404, "NO_SUCH_JOB")
    assert_problem(await client.get("/v1/nothing-here", headers=ALICE), 404)

    mine = (
        await client.post("/v1/jobs", headers={**ALICE, "content-type": "application/pdf"}, content=pdf)
    ).json()
    job_id = mine["job"]["id"]
    for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/events"), ("GET", "/score")):
        assert_problem(
            await client.request(method, f"/v1/jobs/{job_id}{path}", headers=BOB), 404, "NO_SUCH_JOB"
        )


async def test_openapi_and_static_page(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events", "/v1/jobs/{job_id}/score"} <= set(
        spec["paths"]
    )
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/metrics")).status_code == 200
    static = Path(__file__).resolve().parents[2] / "gateway" / "web" / "static" / "index.html"
    if static.exists():
        page = await client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def _png(shade: int, size: tuple[int, int] = (120, 160)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("L", size, shade).save(out, "PNG")
    return out.getvalue()


async def test_the_original_is_served_to_its_owner_with_its_media_type(client: httpx.AsyncClient) -> None:
    """GET /original serves the upload as stored, GET /original/{n} each file with its own type
    (the web page draws a job's original from these, after a reload too); only to the owner."""
    pdf = blank_pdf(2)
    made = (
        await client.post("/v1/jobs", content=pdf, headers={**ALICE, "content-type": "application/pdf"})
    ).json()
    pdf_job = made["job"]["id"]
    pages = [_png(250), _png(200, (100, 140))]
    files = [("file", (f"page-{n}.png", data, "image/png")) for n, data in enumerate(pages, 1)]
    images = (await client.post("/v1/jobs", files=files, headers=ALICE)).json()["job"]["id"]
    single = (
        await client.post("/v1/jobs", content=pages[1], headers={**ALICE, "content-type": "image/png"})
    ).json()["job"]["id"]

    whole = await client.get(f"/v1/jobs/{pdf_job}/original", headers=ALICE)
    assert whole.status_code == 200 and whole.content == pdf
    assert whole.headers["content-type"] == "application/pdf"
    assert (whole.headers["x-etude-original-kind"], whole.headers["x-etude-original-files"]) == ("pdf", "1")
    assert (await client.get(f"/v1/jobs/{pdf_job}/original/0", headers=ALICE)).content == pdf

    bundle = await client.get(f"/v1/jobs/{images}/original", headers=ALICE)
    assert bundle.headers["content-type"].startswith("application/x-protobuf")
    assert (bundle.headers["x-etude-original-kind"], bundle.headers["x-etude-original-files"]) == (
        "images",
        "2",
    )
    for index, data in enumerate(pages):
        one = await client.get(f"/v1/jobs/{images}/original/{index}", headers=ALICE)
        assert one.status_code == 200 and one.content == data
        assert one.headers["content-type"] == "image/png"
        assert one.headers["x-etude-original-files"] == "2"
    assert_problem(await client.get(f"/v1/jobs/{images}/original/2", headers=ALICE), 404, "NO_SUCH_FILE")
    assert_problem(await client.get(f"/v1/jobs/{images}/original/x", headers=ALICE), 400, "BAD_FILE_INDEX")

    alone = await client.get(f"/v1/jobs/{single}/original/0", headers=ALICE)
    assert alone.content == pages[1] and alone.headers["x-etude-original-kind"] == "images"

    # Another owner sees none of it, whatever the path.
    for path in ("/original", "/original/0", "/original/1", "/original/9"):
        assert_problem(await client.get(f"/v1/jobs/{images}{path}", headers=BOB), 404, "NO_SUCH_JOB")
    spec = (await client.get("/openapi.json")).json()
    assert {"/v1/jobs/{job_id}/original", "/v1/jobs/{job_id}/original/{file_index}"} <= set(spec["paths"])


def _tiff(frames: list[tuple[int, tuple[int, int]]]) -> bytes:
    """A multi-page TIFF: one gray frame per (shade, size), with a dark corner to tell rotation."""
    import io

    from PIL import Image

    images = []
    for shade, size in frames:
        image = Image.new("L", size, shade)
        image.paste(0, (0, 0, 10, 5))
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, "TIFF", save_all=True, append_images=images[1:], compression="tiff_lzw")
    return out.getvalue()


async def test_a_tiff_original_is_served_as_png_frames(client: httpx.AsyncClient) -> None:
    """Browsers draw no TIFF: `?as=png&frame=K` serves frame K of an uploaded image as a PNG, and
    `x-etude-original-frames` says how many frames (pages) the file holds, so that the web page
    shows every page of a multi-page TIFF."""
    import io

    from PIL import Image

    frames = [(230, (120, 160)), (90, (100, 140))]
    tiff = _tiff(frames)
    made = await client.post("/v1/jobs", content=tiff, headers={**ALICE, "content-type": "image/tiff"})
    assert made.status_code == 201, made.text
    job = made.json()["job"]["id"]
    base = f"/v1/jobs/{job}/original/0"

    raw = await client.get(base, headers=ALICE)
    assert raw.content == tiff and raw.headers["content-type"] == "image/tiff"
    assert raw.headers["x-etude-original-frames"] == "2"

    for index, (shade, size) in enumerate(frames):
        query = "?as=png" if index == 0 else f"?as=png&frame={index}"  # frame 0 by default
        png = await client.get(base + query, headers=ALICE)
        assert png.status_code == 200, png.text
        assert png.headers["content-type"] == "image/png"
        assert (png.headers["x-etude-original-frames"], png.headers["x-etude-original-files"]) == ("2", "1")
        drawn = Image.open(io.BytesIO(png.content))
        assert drawn.format == "PNG" and drawn.size == size
        expected = Image.new("L", size, shade)
        expected.paste(0, (0, 0, 10, 5))
        assert drawn.convert("L").tobytes() == expected.tobytes()

    assert_problem(await client.get(base + "?as=png&frame=2", headers=ALICE), 404, "NO_SUCH_FRAME")
    assert_problem(await client.get(base + "?as=jpeg", headers=ALICE), 400, "BAD_RENDITION")
    assert_problem(await client.get(base + "?as=png&frame=-1", headers=ALICE), 400, "BAD_FRAME")
    assert_problem(await client.get(f"/v1/jobs/{job}/original/1?as=png", headers=ALICE), 404, "NO_SUCH_FILE")
    assert_problem(await client.get(base + "?as=png", headers=BOB), 404, "NO_SUCH_JOB")

    # A PNG page is one frame; a PDF has none, and no PNG rendition.
    single = await client.post("/v1/jobs", content=_png(200), headers={**ALICE, "content-type": "image/png"})
    one = await client.get(f"/v1/jobs/{single.json()['job']['id']}/original/0?as=png", headers=ALICE)
    assert one.headers["x-etude-original-frames"] == "1" and one.headers["content-type"] == "image/png"
    pdf = await client.post(
        "/v1/jobs", content=blank_pdf(1), headers={**ALICE, "content-type": "application/pdf"}
    )
    pdf_file = f"/v1/jobs/{pdf.json()['job']['id']}/original/0"
    assert "x-etude-original-frames" not in (await client.get(pdf_file, headers=ALICE)).headers
    assert_problem(await client.get(pdf_file + "?as=png", headers=ALICE), 400, "BAD_RENDITION")
