"""Every format of ir's registry comes back over REST and gRPC with its registry MIME type and
suffix (.mxl included), the OpenAPI document lists exactly those, and the gateway's score carries
the same provenance the CLI writes (score_from_document), dpi included."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from etude.ir.v1 import score_pb2
from etude.jobs.v1 import job_service_pb2 as jobs_pb2
from etude.jobs.v1 import job_service_pb2_grpc as jobs_grpc

from gateway.server import GatewayHandle, start_gateway
from ir.export import FORMATS
from tests.gateway.conftest import OmrProcess, gateway_settings, wait_until
from tests.gateway.pdfs import blank_pdf

REST_ALICE = {"authorization": "Bearer token-alice"}
GRPC_ALICE = (("authorization", "Bearer token-alice"),)


@pytest.fixture
async def gateway(tmp_path: Path, omr: OmrProcess) -> AsyncIterator[GatewayHandle]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}"
    handle = await start_gateway(gateway_settings(url, str(tmp_path / "objects"), omr.address))
    yield handle
    await handle.stop(grace=1)


async def test_every_registry_format_over_rest_and_grpc(gateway: GatewayHandle) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=30) as client:
        created = await client.post(
            "/v1/jobs",
            headers=REST_ALICE,
            files={"file": ("two.pdf", blank_pdf(2), "application/pdf")},
            data={"dpi": "150"},
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["job"]["id"]

        async def done() -> bool:
            job = (await client.get(f"/v1/jobs/{job_id}", headers=REST_ALICE)).json()["job"]
            return bool(job["state"] == "JOB_STATE_OMR_COMPLETED")

        await wait_until(done)
        rest: dict[str, bytes] = {}
        for name, fmt in FORMATS.items():
            response = await client.get(
                f"/v1/jobs/{job_id}/score", params={"format": name}, headers=REST_ALICE
            )
            assert response.status_code == 200, (name, response.text)
            assert response.headers["content-type"].split(";")[0] == fmt.content_type
            assert response.headers["content-disposition"].endswith(f'{job_id}{fmt.suffix}"')
            rest[name] = response.content
        score_doc = (await client.get("/openapi.json")).json()["paths"]["/v1/jobs/{job_id}/score"]["get"]
        assert score_doc["parameters"][1]["schema"]["enum"] == list(FORMATS)
        assert set(score_doc["responses"]["200"]["content"]) == {f.content_type for f in FORMATS.values()}

    assert zipfile.ZipFile(io.BytesIO(rest["mxl"])).testzip() is None
    score = score_pb2.Score.FromString(rest["pb"])
    assert score.provenance.producer == "etude-omr" and score.provenance.dpi > 0
    assert dict(score.provenance.options) == {"dpi": "150", "first_page": "0", "page_limit": "0"}
    assert score.source.file_name == "two.pdf" and score.source.page_count == 2

    async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
        stub = jobs_grpc.JobServiceStub(channel)
        for name, fmt in FORMATS.items():
            value = jobs_pb2.ScoreFormat.Value(f"SCORE_FORMAT_{fmt.grpc_name}")
            got = await stub.GetScore(
                jobs_pb2.GetScoreRequest(job_id=job_id, format=value), metadata=GRPC_ALICE
            )
            assert (got.format, got.content_type) == (value, fmt.content_type)
            assert got.content == rest[name], name  # exports are cached: the same bytes on both APIs
