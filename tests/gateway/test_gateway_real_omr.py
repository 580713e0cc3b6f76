"""The gateway with the real OMR server (in-process, on loopback) and the real model, on an
engraved two-page piano PDF. Skipped, with the reason, where no trained model is installed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from etude.ir.v1 import score_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select

from gateway.jobs.records import JobState
from gateway.server import start_gateway
from storage.tables import job_pages
from tests.gateway.conftest import (
    ROOT,
    gateway_settings,
    gateway_with_real_omr,
    real_model_missing,
    wait_until,
)
from tests.storage.fixtures import free_port


@pytest.mark.skipif(real_model_missing() is not None, reason=str(real_model_missing()))
async def test_real_omr_server_end_to_end(tmp_path: Path) -> None:
    from tests.omr.pdfs import piano_pdf

    async with gateway_with_real_omr(tmp_path) as gateway:
        job_id = (await gateway.core.repo.create("alice", piano_pdf(40), file_name="piano.pdf")).row["id"]

        async def ended() -> bool:
            return (await gateway.core.repo.get("alice", job_id)).state.terminal

        await wait_until(ended, timeout=240, every=0.5)
        job = (await gateway.core.repo.get("alice", job_id)).to_proto()
        assert job.state == JobState.OMR_COMPLETED.to_proto(), job.error
        assert job.page_count == job.pages_done >= 1

        score = score_pb2.Score.FromString((await gateway.core.results.get("alice", job_id, "pb")).content)
        # What the gateway guarantees, whatever the model's accuracy: every page, in order, once,
        # with the server's model named in the provenance.
        assert [f.page_index for f in score.fragments] == list(range(job.page_count))
        info = await gateway.core.omr.service_info()
        assert score.provenance.model.name == info.model.name and score.provenance.model.version
        musicxml = await gateway.core.results.get("alice", job_id, "musicxml")
        assert b"<score-partwise" in musicxml.content[:500]


class RealOmrProcess:
    """`etude serve omr` in a subprocess on a fixed port, so it can be killed and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "etude_cli.main",
            "serve",
            "omr",
            "--omr-port",
            str(self.port),
            "--metrics-port",
            "0",
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        async with grpc.aio.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def serving() -> bool:
                assert self.process is not None and self.process.poll() is None, "the OMR server exited"
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                except grpc.aio.AioRpcError:
                    return False
                return reply.status == health_pb2.HealthCheckResponse.SERVING

            await wait_until(serving, timeout=120, every=0.2)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.mark.skipif(real_model_missing() is not None, reason=str(real_model_missing()))
async def test_real_omr_server_killed_mid_document(tmp_path: Path) -> None:
    """The real server, SIGKILLed after the first page and started again: the job completes with
    every page stored exactly once, within its first attempt."""
    pdf = (ROOT / "examples" / "engraved-piano.pdf").read_bytes()
    omr = RealOmrProcess(free_port())
    await omr.start()
    gateway = await start_gateway(
        gateway_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}",
            str(tmp_path / "objects"),
            omr.address,
            omr_deadline_seconds=300.0,
            omr_backoff_max_seconds=2.0,
        )
    )
    try:
        job_id = (await gateway.core.repo.create("alice", pdf, file_name="engraved-piano.pdf")).row["id"]

        async def first_page() -> bool:
            return (await gateway.core.repo.get("alice", job_id)).row["pages_done"] >= 1

        await wait_until(first_page, timeout=120, every=0.1)
        omr.kill()
        killed_at = (await gateway.core.repo.get("alice", job_id)).to_proto()
        assert killed_at.pages_done < killed_at.page_count, "the document was done before the kill"
        await omr.start()

        async def ended() -> bool:
            return (await gateway.core.repo.get("alice", job_id)).state.terminal

        await wait_until(ended, timeout=240, every=0.5)
        job = (await gateway.core.repo.get("alice", job_id)).to_proto()
        assert job.state == JobState.OMR_COMPLETED.to_proto(), job.error
        assert job.attempts == 1 and job.pages_done == job.page_count
        async with gateway.core.engine.connect() as connection:
            rows = await connection.scalar(select(func.count()).where(job_pages.c.job_id == job_id))
        assert rows == job.page_count
        score = score_pb2.Score.FromString((await gateway.core.results.get("alice", job_id, "pb")).content)
        assert [f.page_index for f in score.fragments] == list(range(job.page_count))
    finally:
        await gateway.stop(grace=1)
        omr.kill()
