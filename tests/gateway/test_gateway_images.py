"""Page images through the gateway to the real OMR server (in-process, with the model): REST
`image/*` bodies and multipart parts (several parts: the pages of one document), gRPC CreateJob
with the metadata's media type; the upload is stored as sent and served back with its own type.
Skipped where no model is installed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from etude.jobs.v1 import job_service_pb2 as jobs_pb2
from etude.jobs.v1 import job_service_pb2_grpc as jobs_grpc
from etude.omr.v1 import omr_service_pb2 as omr_pb2

from gateway.jobs.records import JobState
from gateway.server import GatewayHandle
from tests.gateway.conftest import ALICE, gateway_with_real_omr, real_model_missing, wait_until
from tests.gateway.test_gateway_grpc import upload
from tests.gateway.test_gateway_rest import assert_problem
from tests.omr.images import encode
from tests.omr.pdfs import piano_pages

pytestmark = pytest.mark.skipif(real_model_missing() is not None, reason=str(real_model_missing()))
REST_ALICE = {"authorization": "Bearer token-alice"}


def _png() -> bytes:
    return encode(piano_pages(60)[1].image, "PNG")


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[GatewayHandle]:
    async with gateway_with_real_omr(tmp_path) as handle:
        yield handle


async def _completed(gateway: GatewayHandle, job_id: str) -> Any:
    async def ended() -> bool:
        return bool((await gateway.core.repo.get("alice", job_id)).state.terminal)

    await wait_until(ended, timeout=240, every=0.5)
    return (await gateway.core.repo.get("alice", job_id)).to_proto()


async def test_rest_image_uploads(gateway: GatewayHandle) -> None:
    png = _png()
    jpeg = encode(piano_pages(60)[1].image, "JPEG")
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=60) as client:
        created = await client.post(
            "/v1/jobs", content=png, headers={**REST_ALICE, "content-type": "image/png"}
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["job"]["id"]
        # A JPEG in a multipart part declared as PNG: the content decides.
        form = await client.post(
            "/v1/jobs", files={"file": ("page.png", jpeg, "image/png")}, headers=REST_ALICE
        )
        assert form.status_code == 201, form.text
        job = await _completed(gateway, job_id)
        assert job.state == JobState.OMR_COMPLETED.to_proto(), job.error
        assert job.page_count == job.pages_done == 1
        original = await client.get(f"/v1/jobs/{job_id}/pdf", headers=REST_ALICE)
        assert original.headers["content-type"] == "image/png" and original.content == png
        score = await client.get(f"/v1/jobs/{job_id}/score?format=musicxml", headers=REST_ALICE)
        assert score.status_code == 200 and b"<score-partwise" in score.content[:500]
        # Several `file` parts: the pages of one document, in order.
        pages = [("file", ("p1.png", png, "image/png")), ("file", ("p2.jpg", jpeg, "image/jpeg"))]
        several = await client.post("/v1/jobs", files=pages, headers=REST_ALICE)
        assert several.status_code == 201, several.text
        both = await _completed(gateway, several.json()["job"]["id"])
        assert both.state == JobState.OMR_COMPLETED.to_proto(), both.error
        assert both.page_count == both.pages_done == 2 and both.file_name == "p1.png"
        shown = await client.get(f"/v1/jobs/{both.id}/pdf", headers=REST_ALICE)
        assert shown.headers["content-type"] == "image/png" and shown.content == png
        with_pdf = [pages[0], ("file", ("doc.pdf", b"%PDF-1.4\n%%EOF", "application/pdf"))]
        assert_problem(await client.post("/v1/jobs", files=with_pdf, headers=REST_ALICE), 400, "NOT_AN_IMAGE")
        assert_problem(
            await client.post(
                "/v1/jobs", content=b"GIF89a", headers={**REST_ALICE, "content-type": "image/gif"}
            ),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        assert_problem(
            await client.post(
                "/v1/jobs", content=b"not an image" * 10, headers={**REST_ALICE, "content-type": "image/png"}
            ),
            400,
            "NOT_A_PDF",
        )


async def test_grpc_create_job_with_a_media_type(gateway: GatewayHandle) -> None:
    async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
        stub = jobs_grpc.JobServiceStub(channel)
        created = await stub.CreateJob(
            iter(upload(_png(), file_name="page.png", media_type="image/png")), metadata=ALICE
        )
        job = await _completed(gateway, created.job.id)
        assert job.state == JobState.OMR_COMPLETED.to_proto(), job.error
        assert job.page_count == 1 and job.file_name == "page.png"
        # Several images: a serialized ImageFiles.
        bundle = omr_pb2.ImageFiles(files=[_png(), _png()]).SerializeToString()
        pair = await stub.CreateJob(iter(upload(bundle, media_type="application/x-protobuf")), metadata=ALICE)
        both = await _completed(gateway, pair.job.id)
        assert both.state == JobState.OMR_COMPLETED.to_proto(), both.error
        assert both.page_count == 2
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateJob(iter(upload(_png(), media_type="image/gif")), metadata=ALICE)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "media_type" in (caught.value.details() or "")
        job_list = await stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=ALICE)
        assert len(job_list.jobs) == 2
