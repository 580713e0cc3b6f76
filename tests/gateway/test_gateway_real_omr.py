"""The gateway with the real OMR server (in-process, on loopback) and the real model, on an
engraved two-page piano PDF. Skipped, with the reason, where no trained model is installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.jobs.records import JobState
from gateway.server import start_gateway
from tests.gateway.conftest import gateway_settings, wait_until


def _model_missing() -> str | None:
    try:
        from omr_server.server import start_omr_server  # noqa: F401
        from omr_server.tokens.manifest import default_model_dir
    except ImportError as error:
        return f"the OMR server is not importable: {error}"
    if not (default_model_dir() / "manifest.json").is_file():
        return f"no trained model in {default_model_dir()} (manifest.json missing)"
    return None


@pytest.mark.skipif(_model_missing() is not None, reason=str(_model_missing()))
async def test_real_omr_server_end_to_end(tmp_path: Path) -> None:
    from omr_server.server import start_omr_server
    from omr_server.settings import OmrSettings
    from tests.omr.pdfs import piano_pdf

    omr = await start_omr_server(OmrSettings(port=0, metrics_port=None))
    gateway = await start_gateway(
        gateway_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}",
            str(tmp_path / "objects"),
            omr.address,
            omr_deadline_seconds=300.0,
        )
    )
    try:
        job_id = (await gateway.core.repo.create("alice", piano_pdf(40), file_name="piano.pdf")).row["id"]

        async def ended() -> bool:
            return (await gateway.core.repo.get("alice", job_id)).state.terminal

        await wait_until(ended, timeout=240, every=0.5)
        job = (await gateway.core.repo.get("alice", job_id)).to_proto()
        assert job.state == JobState.OMR_COMPLETED.to_proto(), job.error
        assert job.page_count == job.pages_done >= 1
        from etude.ir.v1 import score_pb2

        score = score_pb2.Score.FromString((await gateway.core.results.get("alice", job_id, "pb")).content)
        # What the gateway guarantees, whatever the model's accuracy: every page, in order, once,
        # with the server's model named in the provenance.
        assert [f.page_index for f in score.fragments] == list(range(job.page_count))
        info = await gateway.core.omr.service_info()
        assert score.provenance.model.name == info.model.name and score.provenance.model.version
        musicxml = await gateway.core.results.get("alice", job_id, "musicxml")
        assert b"<score-partwise" in musicxml.content[:500]
    finally:
        await gateway.stop(grace=1)
        await omr.stop(grace=1)
