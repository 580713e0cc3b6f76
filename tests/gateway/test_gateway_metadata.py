"""Title, composer and tempo text of a born-digital PDF through the gateway: the real OMR server
(in-process, over loopback gRPC) reads them from the PDF's text layer and sends them in its
header; the gateway keeps them with the job and the score it assembles from the stored fragments
carries them, as `etude transcribe` does for the same PDF: IR (protobuf and JSON), MusicXML
(work-title, creator, the tempo words) and MIDI (the conductor track's name). A PDF that states
no title gets none (no file name and no placeholder in its place). Skipped where no model is
installed."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import mido
import pypdfium2 as pdfium
import pytest
from etude.ir.v1 import score_pb2

from gateway.jobs.records import JobState
from gateway.server import GatewayHandle
from tests.gateway.conftest import gateway_with_real_omr, real_model_missing, wait_until
from tests.omr.pdfs import piano_pdf

pytestmark = pytest.mark.skipif(real_model_missing() is not None, reason=str(real_model_missing()))
ALICE = {"authorization": "Bearer token-alice"}
TITLE, COMPOSER, TEMPO = "Little Study", "Carl Czerny", "Allegretto"


def _titled_pdf() -> bytes:
    """The engraved piano page with a born-digital text layer: a large title at the top, the
    composer top right, a tempo word above the first system."""
    from tests.cli.test_cli_metadata import _with_text

    width, height = pdfium.PdfDocument(piano_pdf(40))[0].get_size()
    texts: list[tuple[float, float, float, str]] = [
        (width * 0.3, height - 30, 20, TITLE),
        (width * 0.62, height - 52, 11, COMPOSER),
        (40, height - 60, 9, TEMPO),
    ]
    return _with_text(piano_pdf(40), texts)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[GatewayHandle]:
    async with gateway_with_real_omr(tmp_path) as handle:
        yield handle


async def _run(client: httpx.AsyncClient, gateway: GatewayHandle, pdf: bytes, name: str) -> dict[str, Any]:
    created = await client.post(
        "/v1/jobs",
        content=pdf,
        params={"file_name": name},
        headers={**ALICE, "content-type": "application/pdf"},
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["job"]["id"]

    async def ended() -> bool:
        return bool((await gateway.core.repo.get("alice", job_id)).state.terminal)

    await wait_until(ended, timeout=240, every=0.5)
    job = (await client.get(f"/v1/jobs/{job_id}", headers=ALICE)).json()["job"]
    assert job["state"] == JobState.OMR_COMPLETED.to_proto_name(), job
    return dict(job)


async def _exports(client: httpx.AsyncClient, job_id: str) -> dict[str, bytes]:
    exports = {}
    for fmt in ("pb", "json", "musicxml", "midi"):
        response = await client.get(f"/v1/jobs/{job_id}/score", params={"format": fmt}, headers=ALICE)
        assert response.status_code == 200, response.text
        exports[fmt] = response.content
    return exports


def _midi_track_names(data: bytes) -> list[str]:
    midi = mido.MidiFile(file=io.BytesIO(data))
    return [m.name for track in midi.tracks for m in track if m.type == "track_name"]


async def test_the_gateway_score_carries_the_pdf_title_composer_and_tempo(gateway: GatewayHandle) -> None:
    from omr_server.pages.metadata import DocumentMetadata, read_metadata

    pdf = _titled_pdf()
    # What `etude transcribe` puts in its score for this PDF (tests/cli/test_cli_metadata.py).
    assert read_metadata(pdfium.PdfDocument(pdf), pdf) == DocumentMetadata(TITLE, COMPOSER, TEMPO)
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=60) as client:
        job = await _run(client, gateway, pdf, "untitled-scan.pdf")
        exports = await _exports(client, job["id"])
        score = score_pb2.Score.FromString(exports["pb"])
        assert (score.metadata.title, score.metadata.composer, score.metadata.tempo_text) == (
            TITLE,
            COMPOSER,
            TEMPO,
        )
        assert score.source.file_name == "untitled-scan.pdf"
        assert json.loads(exports["json"])["metadata"] == {
            "title": TITLE,
            "composer": COMPOSER,
            "tempo_text": TEMPO,
        }
        root = ElementTree.fromstring(exports["musicxml"])
        assert root.findtext("work/work-title") == TITLE
        assert root.findtext("identification/creator[@type='composer']") == COMPOSER
        assert TEMPO in [words.text for words in root.iter("words")]
        assert b"Music21" not in exports["musicxml"].replace(b"music21 v", b"")
        assert TITLE in _midi_track_names(exports["midi"])

        # The same PDF again: its pages come from the results cache, the metadata with them.
        again = await _run(client, gateway, pdf, "second-copy.pdf")
        assert again["cached"] is True
        cached = score_pb2.Score.FromString((await _exports(client, again["id"]))["pb"])
        assert cached.metadata == score.metadata and cached.source.file_name == "second-copy.pdf"

        # A PDF that states nothing: no title at all, and never the file name as one.
        plain = await _run(client, gateway, piano_pdf(40), "sonata-scan.pdf")
        plain_exports = await _exports(client, plain["id"])
        assert score_pb2.Score.FromString(plain_exports["pb"]).metadata == score_pb2.Metadata()
        plain_root = ElementTree.fromstring(plain_exports["musicxml"])
        assert plain_root.find("work/work-title") is None
        assert plain_root.find("movement-title") is None
        assert plain_root.find("identification/creator") is None
        assert b"sonata-scan" not in plain_exports["musicxml"]
