"""Images in: PNG, JPEG, TIFF (frames as pages), WebP and several files as one document, over
real gRPC with the committed model; hostile images refused with a clear status before any page."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from etude.ir.v1 import score_pb2
from etude.omr.v1 import omr_service_pb2, omr_service_pb2_grpc

from ir.validate import validate_fragment
from omr_server.errors import InvalidInput
from omr_server.pages.media import document_kind
from omr_server.pipeline import DocumentRequest
from omr_server.staves.binarize import ink_mask
from omr_server.staves.curvature import StaffBend, staff_bend
from omr_server.staves.detect import detect_layout
from tests.omr.conftest import requires_model
from tests.omr.engraving import noisy, skewed
from tests.omr.images import bomb_png, bowed, encode, multipage_tiff, truncated_png
from tests.omr.pdfs import piano_pages
from tests.omr.test_service import _reason


def _page() -> np.ndarray:
    return piano_pages(60)[1].image  # six staves: the short page


def _request(
    data: bytes = b"", media_type: str = "", *images: bytes, dpi: int = 0
) -> omr_service_pb2.RecognizeDocumentRequest:
    options = omr_service_pb2.RecognitionOptions(dpi=dpi)
    if images:
        return omr_service_pb2.RecognizeDocumentRequest(
            images=omr_service_pb2.ImageFiles(files=images), media_type=media_type, options=options
        )
    return omr_service_pb2.RecognizeDocumentRequest(pdf_data=data, media_type=media_type, options=options)


async def _collect(
    channel: grpc.aio.Channel, request: omr_service_pb2.RecognizeDocumentRequest
) -> list[omr_service_pb2.RecognizeDocumentResponse]:
    stub = omr_service_pb2_grpc.OmrServiceStub(channel)
    return [event async for event in stub.RecognizeDocument(request, timeout=120)]


def _pages(events: list[omr_service_pb2.RecognizeDocumentResponse]) -> list[score_pb2.PageFragment]:
    return [event.page for event in events if event.WhichOneof("event") == "page"]


# No model: media types, and the bend of staff lines.


@pytest.mark.parametrize(
    ("media_type", "data", "kind"),
    [
        ("", b"%PDF-1.4 ...", "pdf"),
        ("", b"\x89PNG\r\n\x1a\n....", "image"),
        ("application/octet-stream", b"\xff\xd8\xff\xe0", "image"),
        ("application/pdf", b"\x89PNG\r\n\x1a\n", "pdf"),  # as declared: refused as NOT_A_PDF later
        ("image/JPG; q=1", b"", "image"),
        ("image/tiff", b"", "image"),
        ("image/webp", b"", "image"),
        ("image/*", b"", "image"),
    ],
)
def test_document_kind(media_type: str, data: bytes, kind: str) -> None:
    assert document_kind(media_type, data) == kind


def test_an_unsupported_media_type_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        DocumentRequest(b"GIF89a", media_type="image/gif").is_image  # noqa: B018
    assert caught.value.reason == "UNSUPPORTED_MEDIA_TYPE" and caught.value.field == "media_type"


def _bends(image: np.ndarray) -> list[StaffBend]:
    layout = detect_layout(image)
    assert layout.metrics is not None and layout.staves
    ink = ink_mask(layout.image)
    return [staff_bend(ink, staff, layout.metrics) for staff in layout.staves]


def test_straight_staves_measure_straight_and_bowed_ones_bent() -> None:
    flat = _bends(_page())
    assert max(b.bend for b in flat) < 0.1 and min(b.kept for b in flat) > 0.9
    assert not any(b.too_curved for b in flat + _bends(noisy(skewed(_page(), 2.0))))
    # The last system of the piece is short: it sees less of the bow.
    bent = _bends(bowed(_page(), 1.0))
    assert max(b.bend for b in bent) > 1.0 and sum(b.too_curved for b in bent) >= 4
    # Bowed by a quarter space, a quarter of the notes read differently (staves/curvature.py).
    assert sum(b.too_curved for b in _bends(bowed(_page(), 0.25))) >= 4


# Real gRPC with the model.

on_server = pytest.mark.asyncio(loop_scope="module")


@requires_model
@on_server
@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("PNG", "image/png"), ("JPEG", "image/png"), ("WEBP", "")],
    ids=["png", "jpeg-sent-as-png", "webp-by-content"],
)
async def test_one_image_reads_like_its_pdf(channel: grpc.aio.Channel, fmt: str, media_type: str) -> None:
    page = piano_pages(60)[1]
    events = await _collect(channel, _request(encode(page.image, fmt), media_type))
    header = events[0].header
    assert (header.page_count, header.pages_to_read, header.dpi, header.media_type) == (1, 1, 300, "image/*")
    (fragment,) = _pages(events)
    assert (fragment.staff_count, fragment.system_count) == (page.staves, page.systems)
    assert fragment.notes and validate_fragment(fragment) == []
    assert score_pb2.WARNING_CODE_CURVED_STAFF not in [w.code for w in fragment.warnings]


@requires_model
@on_server
async def test_a_tiff_frame_and_several_files_are_pages(channel: grpc.aio.Channel) -> None:
    pages = piano_pages(60)
    tiff = multipage_tiff([page.image for page in pages])
    # A document: the two-page TIFF then a PNG without a stated dpi.
    events = await _collect(channel, _request(b"", "", tiff, encode(pages[1].image, "PNG", dpi=None)))
    assert events[0].header.page_count == 3
    fragments = _pages(events)
    assert [f.page_index for f in fragments] == [0, 1, 2]
    assert [f.staff_count for f in fragments] == [pages[0].staves, pages[1].staves, pages[1].staves]
    assert events[-1].summary.pages_read == 3


@requires_model
@on_server
async def test_a_bowed_photo_gets_a_curved_staff_warning(channel: grpc.aio.Channel) -> None:
    events = await _collect(channel, _request(encode(bowed(_page(), 1.0), "JPEG"), "image/jpeg"))
    (fragment,) = _pages(events)
    curved = [w for w in fragment.warnings if w.code == score_pb2.WARNING_CODE_CURVED_STAFF]
    assert len(curved) == 1 and "too curved" in curved[0].message


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (_request(truncated_png(), "image/png"), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_CORRUPT"),
        (_request(bomb_png(), "image/png"), grpc.StatusCode.RESOURCE_EXHAUSTED, "IMAGE_TOO_LARGE"),
        (_request(b"plain text" * 50, "image/png"), grpc.StatusCode.INVALID_ARGUMENT, "NOT_AN_IMAGE"),
        (_request(b"GIF89a" * 50, "image/gif"), grpc.StatusCode.INVALID_ARGUMENT, "UNSUPPORTED_MEDIA_TYPE"),
        (_request(b"", "", b"", b""), grpc.StatusCode.INVALID_ARGUMENT, "EMPTY_INPUT"),
        (  # stated 150 dpi, read at 600: 16 times the pixels
            _request(encode(_page(), "PNG", dpi=150), "image/png", dpi=600),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "PAGE_TOO_LARGE",
        ),
    ],
    ids=["truncated", "bomb", "text", "gif", "empty", "over-budget"],
)
@requires_model
@on_server
async def test_bad_images_get_a_clear_status(
    channel: grpc.aio.Channel,
    request_: omr_service_pb2.RecognizeDocumentRequest,
    code: grpc.StatusCode,
    reason: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _collect(channel, request_)
    assert (caught.value.code(), _reason(caught.value)) == (code, reason)
    assert caught.value.details()
