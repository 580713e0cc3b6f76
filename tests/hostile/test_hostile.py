"""Hostile inputs against the real OMR server over loopback gRPC, and against `etude transcribe`.

The fast subset of tests/hostile/generate.py runs here; `python -m tests.hostile.run` runs all
of it. The regressions of issue 13 (#1, #5, #6, #7) build their inputs themselves and check the
exact outcome: a clear status with its reason, a bounded time, health answering throughout.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from etude.omr.v1 import omr_service_pb2, omr_service_pb2_grpc

from gateway.omr_client import is_transient
from omr_server.pages.worker import WORKER_NAME
from omr_server.server import OmrServerHandle
from tests.hostile.generate import (
    Case,
    cases,
    form_fanout_pdf,
    image_pdf,
    line_grid_pdf,
    page_tree_pdf,
    staff_pdf,
    tall_staves_pdf,
)
from tests.hostile.run import PAGE_SECONDS, check_case, healthy, hostile_settings, recognize, start
from tests.omr.conftest import MODEL_DIR, requires_model

ROOT = Path(__file__).resolve().parents[2]
FAST = [case for case in cases() if case.fast]

pytestmark = requires_model


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[OmrServerHandle]:
    handle = await start(hostile_settings(MODEL_DIR))
    yield handle
    await handle.stop(0)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def channel(server: OmrServerHandle) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(
        server.address, options=[("grpc.max_send_message_length", 64_000_000)]
    ) as opened:
        yield opened


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", FAST, ids=[case.name for case in FAST])
async def test_hostile_input_gets_a_clear_status_in_bounded_time(
    channel: grpc.aio.Channel, case: Case
) -> None:
    outcome = await check_case(channel, case)
    assert not outcome.problem, outcome


@pytest.mark.asyncio(loop_scope="module")
async def test_a_page_that_never_finishes_drawing_blocks_no_one(channel: grpc.aio.Channel) -> None:
    """#1: 10**7 Form XObject draws. Health and an ordinary request sent meanwhile are answered
    at once; the page is refused when its budget runs out, and its worker process dies."""
    hostile = asyncio.create_task(recognize(channel, form_fanout_pdf(7, 10), 60))
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    assert await healthy(channel)
    assert time.perf_counter() - started < 1.0
    code, _, _ = await recognize(channel, staff_pdf(), 30)
    assert code == "OK"
    ordinary = time.perf_counter() - started
    code, reason, message = await hostile
    assert (code, reason) == ("RESOURCE_EXHAUSTED", reason) and reason.startswith("PAGE_RENDER_"), message
    assert "page 0" in message
    assert ordinary < PAGE_SECONDS + 5
    await _no_worker_left()


@pytest.mark.asyncio(loop_scope="module")
async def test_cancelling_a_stuck_page_kills_its_worker_at_once(channel: grpc.aio.Channel) -> None:
    """#1: cancellation closes the document by killing its worker; the loop never waits."""
    stub = omr_service_pb2_grpc.OmrServiceStub(channel)
    request = omr_service_pb2.RecognizeDocumentRequest(pdf_data=form_fanout_pdf(7, 10))
    call = stub.RecognizeDocument(request, timeout=60)
    first = await call.read()  # the header: the document is open, page 0 is being drawn
    assert first.WhichOneof("event") == "header"
    await asyncio.sleep(0.3)
    call.cancel()
    started = time.perf_counter()
    assert await healthy(channel)
    assert time.perf_counter() - started < 1.0
    await _no_worker_left()


async def _no_worker_left(within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while alive := [p for p in multiprocessing.active_children() if p.name == WORKER_NAME]:
        assert time.monotonic() < deadline, f"PDF workers still alive: {alive}"
        await asyncio.sleep(0.05)


@pytest.mark.asyncio(loop_scope="module")
async def test_too_many_staves_is_permanent_and_memory_returns_to_baseline(channel: grpc.aio.Channel) -> None:
    """#5: 907 staves on one 40 Mpx page. The refusal names a request field, so the gateway does
    not retry it as busy; repeating it leaves the server's memory where it was."""
    stub = omr_service_pb2_grpc.OmrServiceStub(channel)
    pdf = tall_staves_pdf()
    request = omr_service_pb2.RecognizeDocumentRequest(pdf_data=pdf)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.RecognizeDocument(request, timeout=60):
            pass
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "staves, over the limit of 64 per page" in (caught.value.details() or "")
    assert not is_transient(caught.value)
    baseline = _rss_mib()
    for _ in range(3):
        assert (await recognize(channel, pdf, 60))[1] == "TOO_MANY_STAVES"
        assert (await recognize(channel, line_grid_pdf(), 60))[1] == "TOO_MANY_STAVES"
    assert _rss_mib() - baseline < 60, f"RSS grew from {baseline:.0f} to {_rss_mib():.0f} MiB"


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.asyncio(loop_scope="module")
async def test_a_huge_image_is_refused_before_it_is_decoded(channel: grpc.aio.Channel) -> None:
    """#7: a 900 Mpx image in a PDF of under 1 MB; the server's memory does not follow it."""
    pdf = image_pdf(30000, 30000)
    assert len(pdf) < 2_000_000
    before = _rss_mib()
    code, reason, message = await recognize(channel, pdf, 60)
    assert (code, reason) == ("RESOURCE_EXHAUSTED", "IMAGE_TOO_LARGE"), message
    assert "30000x30000" in message
    assert _rss_mib() - before < 60


@pytest.mark.asyncio(loop_scope="module")
async def test_a_page_over_the_memory_budget_is_stopped(tmp_path: Path) -> None:
    """#7: with a small memory budget, a page whose drawing needs more is refused, not run."""
    handle = await start(hostile_settings(MODEL_DIR, max_page_memory_mb=64))
    try:
        async with grpc.aio.insecure_channel(handle.address) as channel:
            code, reason, message = await recognize(channel, image_pdf(9000, 9000), 60)
            # PDFium either fails the image (the page then holds no staff) or aborts (refused).
            assert code == "OK" or (code, reason) == ("RESOURCE_EXHAUSTED", "PAGE_RENDER_ABORTED"), message
            assert await healthy(channel)
            assert (await recognize(channel, staff_pdf(), 30))[0] == "OK"
    finally:
        await handle.stop(0)


def _transcribe(pdf: bytes, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "hostile.pdf"
    source.write_bytes(pdf)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "etude_cli.main",
            "transcribe",
            str(source),
            "-o",
            str(tmp_path / "out.musicxml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ETUDE_OMR_MODEL_DIR": str(MODEL_DIR), **env},
    )


@pytest.mark.parametrize(
    ("name", "build", "reason"),
    [
        ("kids_integer_42", lambda: page_tree_pdf(b"[3 0 R 42]"), "PDF_CORRUPT"),
        ("image_12000x12000", lambda: image_pdf(12000, 12000), "IMAGE_TOO_LARGE"),
        ("form_fanout_10x7", lambda: form_fanout_pdf(7, 10), "PAGE_RENDER_"),
    ],
)
def test_cli_refuses_hostile_input_with_one_line_and_exit_2(
    tmp_path: Path, name: str, build: object, reason: str
) -> None:
    """#6: `etude transcribe` says what is wrong in one line and exits 2, never a traceback."""
    assert callable(build)
    started = time.perf_counter()
    result = _transcribe(build(), tmp_path, ETUDE_OMR_MAX_PAGE_SECONDS="3")
    assert time.perf_counter() - started < 60
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert result.returncode == 2, result.stderr
    assert f"[{reason}" in lines[0]
    assert not (tmp_path / "out.musicxml").exists()
