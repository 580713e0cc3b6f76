"""PDF validation: every bad input is refused with its own reason, before any page is drawn."""

from __future__ import annotations

import grpc
import pytest

from omr_server.errors import OmrError
from omr_server.pages.rasterise import rasterise_page
from omr_server.pages.validate import PdfLimits, check_pixel_budget, open_pdf, select_pages
from omr_server.service import grpc_code, to_status
from tests.omr.pdfs import blank_pdf, corrupt_pdf, encrypted_pdf, piano_pdf, zero_page_pdf

LIMITS = PdfLimits(max_bytes=10_000_000, max_pages=5, max_page_pixels=40_000_000)


def _refusal(data: bytes, limits: PdfLimits = LIMITS) -> OmrError:
    with pytest.raises(OmrError) as caught:
        open_pdf(data, limits)
    return caught.value


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "EMPTY_INPUT"),
        (b"Hello, this is a text file, not a PDF.\n" * 10, "NOT_A_PDF"),
        (encrypted_pdf(), "PDF_ENCRYPTED"),
        (zero_page_pdf(), "PDF_NO_PAGES"),
        (corrupt_pdf(), "PDF_CORRUPT"),
    ],
)
def test_bad_documents_are_invalid_arguments(data: bytes, reason: str) -> None:
    error = _refusal(data)
    assert grpc_code(error) == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == reason
    status = to_status(error)
    assert status.message == error.message and len(status.details) == 2  # ErrorInfo + BadRequest


def test_truncated_pdf_is_refused() -> None:
    data = piano_pdf()
    assert _refusal(data[: len(data) // 2]).reason == "PDF_TRUNCATED"


def test_limits_are_resource_exhausted() -> None:
    data = blank_pdf(pages=6)
    too_many = _refusal(data)
    assert (grpc_code(too_many), too_many.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_PAGES")
    too_big = _refusal(data, PdfLimits(max_bytes=100, max_pages=5, max_page_pixels=1))
    assert (grpc_code(too_big), too_big.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "PDF_TOO_LARGE")


def test_pixel_budget_is_checked_per_page_before_drawing() -> None:
    document = open_pdf(blank_pdf(width_pt=5000, height_pt=5000), LIMITS)
    with pytest.raises(OmrError) as caught:
        check_pixel_budget(document, range(1), dpi=300, max_pixels=40_000_000)
    assert caught.value.reason == "PAGE_TOO_LARGE" and caught.value.field == "options.dpi"
    check_pixel_budget(document, range(1), dpi=72, max_pixels=40_000_000)


def test_page_selection_and_grayscale_rendering() -> None:
    document = open_pdf(blank_pdf(pages=3), LIMITS)
    assert list(select_pages(3, 1, 0).indices) == [1, 2]
    assert list(select_pages(3, 0, 2).indices) == [0, 1]
    with pytest.raises(OmrError):
        select_pages(3, 3, 0)
    image = rasterise_page(document, 0, 150)
    assert image.ndim == 2 and image.dtype.name == "uint8"
    assert abs(image.shape[0] - 842 * 150 / 72) <= 1 and image.min() == 255
