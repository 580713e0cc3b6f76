"""The OMR server's request log lines carry the caller's x-request-id; keepalive limits accept
the gateway's pings."""

from __future__ import annotations

import logging

import grpc
import pytest
from etude.omr.v1 import omr_service_pb2, omr_service_pb2_grpc

from gateway.omr_client import OmrClient
from omr_server.server import SERVER_KEEPALIVE_OPTIONS, OmrServerHandle
from tests.omr.conftest import requires_model
from tests.omr.pdfs import blank_pdf

pytestmark = [requires_model, pytest.mark.asyncio(loop_scope="module")]


async def test_request_log_lines_carry_the_callers_request_and_job_ids(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="omr_server")
    stub = omr_service_pb2_grpc.OmrServiceStub(channel)
    request = omr_service_pb2.RecognizeDocumentRequest(pdf_data=blank_pdf(pages=2))
    metadata = (("x-request-id", "gw-req-7"), ("x-job-id", "job-123"))
    events = [event async for event in stub.RecognizeDocument(request, metadata=metadata, timeout=60)]
    assert [e.WhichOneof("event") for e in events].count("page") == 2

    lines = [r for r in caplog.records if r.getMessage().startswith("RecognizeDocument")]
    assert [r.getMessage() for r in lines] == ["RecognizeDocument started", "RecognizeDocument ended"]
    assert {(getattr(r, "request_id", None), getattr(r, "job_id", None)) for r in lines} == {
        ("gw-req-7", "job-123")
    }
    ended = lines[-1].__dict__
    assert (ended["status"], ended["pages_to_read"], ended["pages"]) == ("OK", 2, 2)
    assert ended["elapsed_s"] > 0

    caplog.clear()
    with pytest.raises(grpc.aio.AioRpcError):
        bad = omr_service_pb2.RecognizeDocumentRequest(pdf_data=b"not a pdf")
        [event async for event in stub.RecognizeDocument(bad, timeout=60)]
    ended_bad = [r for r in caplog.records if r.getMessage() == "RecognizeDocument ended"]
    assert len(ended_bad) == 1 and ended_bad[0].__dict__["status"] == "INVALID_ARGUMENT"
    assert len(getattr(ended_bad[0], "request_id", "")) == 32  # generated when the caller sends none


async def test_gateway_client_sends_its_ids(
    omr_server: OmrServerHandle, caplog: pytest.LogCaptureFixture
) -> None:
    from observability.logs import bound

    caplog.set_level(logging.INFO, logger="omr_server")
    client = OmrClient(omr_server.address)
    try:
        with bound(request_id="rest-1", job_id="job-9"):
            request = omr_service_pb2.RecognitionOptions()
            [event async for event in client.recognize(blank_pdf(), request)]
    finally:
        await client.close()
    ended = [r for r in caplog.records if r.getMessage() == "RecognizeDocument ended"]
    assert [(getattr(r, "request_id", None), getattr(r, "job_id", None)) for r in ended] == [
        ("rest-1", "job-9")
    ]


async def test_keepalive_options_accept_the_gateways_30_second_pings() -> None:
    options = dict(SERVER_KEEPALIVE_OPTIONS)
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.http2.min_ping_interval_without_data_ms"] <= 30_000
    assert options["grpc.http2.max_pings_without_data"] == 0
    assert 0 < options["grpc.max_connection_age_ms"] <= options["grpc.max_connection_age_grace_ms"]
