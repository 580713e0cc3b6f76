"""OmrService over real gRPC with the committed model: streaming, bad input, health, limits."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest
from etude.ir.v1 import score_pb2
from etude.omr.v1 import omr_service_pb2, omr_service_pb2_grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from ir.validate import validate_fragment
from omr_server.server import OmrServerHandle, start_omr_server
from tests.omr.conftest import requires_model, server_settings, started
from tests.omr.engraving import images_to_pdf
from tests.omr.pdfs import (
    blank_pdf,
    corrupt_pdf,
    encrypted_pdf,
    piano_pages,
    piano_pdf,
    text_page_pdf,
    zero_page_pdf,
)

pytestmark = [requires_model, pytest.mark.asyncio(loop_scope="module")]


def _stub(channel: grpc.aio.Channel) -> omr_service_pb2_grpc.OmrServiceStub:
    return omr_service_pb2_grpc.OmrServiceStub(channel)


async def _collect(
    channel: grpc.aio.Channel, pdf: bytes, **options: int
) -> list[omr_service_pb2.RecognizeDocumentResponse]:
    request = omr_service_pb2.RecognizeDocumentRequest(
        pdf_data=pdf, options=omr_service_pb2.RecognitionOptions(**options), file_name="test.pdf"
    )
    return [event async for event in _stub(channel).RecognizeDocument(request, timeout=120)]


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo detail")


def _long_pdf(copies: int = 4) -> bytes:
    return images_to_pdf([page.image for page in piano_pages()] * copies)


async def test_pages_stream_in_order_between_header_and_summary(channel: grpc.aio.Channel) -> None:
    pages = piano_pages()
    events = await _collect(channel, piano_pdf())
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds == ["header", *["page"] * len(pages), "summary"]
    header, summary = events[0].header, events[-1].summary
    assert (header.page_count, header.pages_to_read, header.dpi) == (len(pages), len(pages), 300)
    assert header.model.name and header.model.sha256 and len(header.pdf_sha256) == 64
    fragments = [event.page for event in events[1:-1]]
    assert [f.page_index for f in fragments] == list(range(len(pages)))
    for fragment, page in zip(fragments, pages, strict=True):
        assert (fragment.staff_count, fragment.system_count) == (page.staves, page.systems)
        assert validate_fragment(fragment) == []
        assert fragment.notes, "the model read no note on an engraved page"
        assert {staff.hand for part in fragment.parts for staff in part.staves} == {1, 2}
    assert summary.pages_read == len(pages)
    assert summary.staves == sum(page.staves for page in pages)
    assert summary.notes == sum(len(f.notes) for f in fragments)


async def test_page_range_options(channel: grpc.aio.Channel) -> None:
    events = await _collect(channel, piano_pdf(), first_page=1, page_limit=1)
    assert events[0].header.first_page == 1 and events[0].header.pages_to_read == 1
    assert [e.page.page_index for e in events if e.WhichOneof("event") == "page"] == [1]


async def test_text_page_is_an_empty_fragment_with_a_warning(channel: grpc.aio.Channel) -> None:
    events = await _collect(channel, text_page_pdf())
    page = events[1].page
    assert page.staff_count == 0 and not page.notes
    assert [w.code for w in page.warnings] == [score_pb2.WARNING_CODE_NO_MUSIC]
    assert events[-1].summary.pages_read == 1


@pytest.mark.parametrize(
    ("pdf", "options", "code", "reason"),
    [
        (b"plain text, not a PDF" * 20, {}, grpc.StatusCode.INVALID_ARGUMENT, "NOT_A_PDF"),
        (piano_pdf()[:50_000], {}, grpc.StatusCode.INVALID_ARGUMENT, "PDF_TRUNCATED"),
        (encrypted_pdf(), {}, grpc.StatusCode.INVALID_ARGUMENT, "PDF_ENCRYPTED"),
        (zero_page_pdf(), {}, grpc.StatusCode.INVALID_ARGUMENT, "PDF_NO_PAGES"),
        (corrupt_pdf(), {}, grpc.StatusCode.INVALID_ARGUMENT, "PDF_CORRUPT"),
        (blank_pdf(pages=21), {}, grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_PAGES"),
        (
            b"%PDF-1.4\n" + b"0" * 5_000_001 + b"%%EOF",
            {},
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "PDF_TOO_LARGE",
        ),
        (blank_pdf(4000, 4000), {}, grpc.StatusCode.RESOURCE_EXHAUSTED, "PAGE_TOO_LARGE"),
        (blank_pdf(), {"dpi": 5000}, grpc.StatusCode.INVALID_ARGUMENT, "BAD_DPI"),
        (blank_pdf(), {"first_page": 3}, grpc.StatusCode.INVALID_ARGUMENT, "FIRST_PAGE_OUT_OF_RANGE"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_bad_input_gets_a_clear_status_and_the_server_keeps_serving(
    channel: grpc.aio.Channel, pdf: bytes, options: dict[str, int], code: grpc.StatusCode, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _collect(channel, pdf, **options)
    assert caught.value.code() == code
    assert _reason(caught.value) == reason
    assert caught.value.details()
    info = await _stub(channel).GetServiceInfo(omr_service_pb2.GetServiceInfoRequest(), timeout=10)
    assert info.model.name


async def test_a_document_reads_the_same_alone_and_under_load(channel: grpc.aio.Channel) -> None:
    """Issue 13 #10: the batcher mixes staves of concurrent requests into its batches; the
    fragments of a document must not depend on which."""

    def notes(events: list[omr_service_pb2.RecognizeDocumentResponse]) -> list[bytes]:
        return [e.page.SerializeToString() for e in events if e.WhichOneof("event") == "page"]

    pdf = piano_pdf()
    alone = notes(await _collect(channel, pdf))
    loaded = await asyncio.gather(
        _collect(channel, pdf), _collect(channel, piano_pdf(40)), _collect(channel, pdf, first_page=1)
    )

    def stable(pages: list[bytes]) -> list[score_pb2.PageFragment]:
        fragments = [score_pb2.PageFragment.FromString(page) for page in pages]
        for fragment in fragments:
            fragment.ClearField("elapsed_seconds")
        return fragments

    assert stable(notes(loaded[0])) == stable(alone)


async def test_object_references_are_refused_without_a_file_root(channel: grpc.aio.Channel) -> None:
    request = omr_service_pb2.RecognizeDocumentRequest(
        object=omr_service_pb2.ObjectReference(uri="s3://b/k.pdf")
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in _stub(channel).RecognizeDocument(request, timeout=10):
            pass
    assert _reason(caught.value) == "OBJECT_SCHEME_UNSUPPORTED"


async def test_cancel_stops_the_work(omr_server: OmrServerHandle, channel: grpc.aio.Channel) -> None:
    stats = omr_server.state.engine.batcher.stats  # type: ignore[union-attr]
    before = stats.staves
    pdf = _long_pdf()
    call = _stub(channel).RecognizeDocument(
        omr_service_pb2.RecognizeDocumentRequest(pdf_data=pdf), timeout=120
    )
    async for event in call:
        if event.WhichOneof("event") == "page":
            break
    call.cancel()
    for _ in range(100):
        if omr_server.state.in_flight == 0:
            break
        await asyncio.sleep(0.05)
    assert omr_server.state.in_flight == 0
    await asyncio.sleep(1.0)
    read = stats.staves - before
    total = sum(page.staves for page in piano_pages()) * 4
    assert read < total / 2, f"{read} of {total} staves were still recognised after the cancel"


async def test_deadline_stops_the_work(omr_server: OmrServerHandle, channel: grpc.aio.Channel) -> None:
    request = omr_service_pb2.RecognizeDocumentRequest(pdf_data=_long_pdf())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in _stub(channel).RecognizeDocument(request, timeout=0.5):
            pass
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    for _ in range(100):
        if omr_server.state.in_flight == 0:
            break
        await asyncio.sleep(0.05)
    assert omr_server.state.in_flight == 0


async def test_service_info_health_reflection_and_metrics(
    omr_server: OmrServerHandle, channel: grpc.aio.Channel
) -> None:
    info = await _stub(channel).GetServiceInfo(omr_service_pb2.GetServiceInfoRequest(), timeout=10)
    assert info.providers and info.model_input_height > 0 and info.vocabulary_size > 0
    assert info.batching.max_batch_size > 0 and info.default_dpi == 300 and info.max_pages == 20
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "etude.omr.v1.OmrService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    listed = [s.name async for r in responses for s in r.list_services_response.service]
    assert "etude.omr.v1.OmrService" in listed and "grpc.health.v1.Health" in listed
    url = f"http://127.0.0.1:{omr_server.metrics_port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    for name in ("etude_omr_pages_total", "etude_omr_batch_size", "etude_omr_infer_seconds"):
        assert name in text


async def test_health_serves_only_after_warm_up_and_stops_on_shutdown() -> None:
    handle = await start_omr_server(server_settings(metrics_port=None))
    try:
        async with grpc.aio.insecure_channel(handle.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            first = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert first.status == health_pb2.HealthCheckResponse.NOT_SERVING
            assert handle.state.engine is None
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _stub(channel).GetServiceInfo(omr_service_pb2.GetServiceInfoRequest(), timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            await handle.wait_ready()
            ready = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert ready.status == health_pb2.HealthCheckResponse.SERVING

            # Shutdown (what SIGTERM triggers): health flips at once, the stream in flight finishes.
            call = _stub(channel).RecognizeDocument(
                omr_service_pb2.RecognizeDocumentRequest(pdf_data=piano_pdf()), timeout=60
            )
            first_event = await call.read()
            assert first_event.WhichOneof("event") == "header"
            stopping = asyncio.create_task(handle.stop(grace=30))
            await asyncio.sleep(0.05)
            assert (await handle.health.Check(health_pb2.HealthCheckRequest(service=""), None)).status == (
                health_pb2.HealthCheckResponse.NOT_SERVING
            )
            rest = []
            while (event := await call.read()) is not grpc.aio.EOF:
                rest.append(event)
            assert rest[-1].WhichOneof("event") == "summary"
            assert await call.code() == grpc.StatusCode.OK
            await stopping
    finally:
        await handle.stop(0)


async def test_concurrency_limit_and_bearer_token() -> None:
    handle = await started(server_settings(metrics_port=None, max_concurrent_requests=1, auth_token="s3cret"))
    try:
        async with grpc.aio.insecure_channel(handle.address) as channel:
            stub = _stub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetServiceInfo(omr_service_pb2.GetServiceInfoRequest(), timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            auth = (("authorization", "Bearer s3cret"),)
            await stub.GetServiceInfo(omr_service_pb2.GetServiceInfoRequest(), timeout=5, metadata=auth)
            health = health_pb2_grpc.HealthStub(channel)
            await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)  # no token needed

            long_call = stub.RecognizeDocument(
                omr_service_pb2.RecognizeDocumentRequest(pdf_data=_long_pdf()), timeout=60, metadata=auth
            )
            await long_call.read()  # the header: the first request is being served
            with pytest.raises(grpc.aio.AioRpcError) as busy:
                async for _ in stub.RecognizeDocument(
                    omr_service_pb2.RecognizeDocumentRequest(pdf_data=piano_pdf()), timeout=10, metadata=auth
                ):
                    pass
            assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert _reason(busy.value) == "TOO_MANY_REQUESTS"
            long_call.cancel()
    finally:
        await handle.stop(0)
