"""Check a PDF before any work is spent on it; every refusal names its problem.

Order matters: cheap byte-level checks (size, header, trailer) come before PDFium parses the
file, and the per-page pixel budget is checked for every selected page before the first one
is rasterised, so a request fails before streaming starts rather than halfway through.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from omr_server.errors import InvalidInput, invalid, over_limit
from omr_server.pages.metadata import DocumentMetadata

# PDFium is not thread-safe: every call into it, from any thread, holds this lock.
PDFIUM_LOCK = threading.Lock()

_TRAILER_WINDOW = 4096  # %%EOF must sit near the end (some writers append a little junk)
_PAGE_COUNT = re.compile(rb"/Count\s*(\d+)")  # page tree (and outline) counts


@dataclass(frozen=True)
class PdfLimits:
    max_bytes: int
    max_pages: int
    max_page_pixels: int


@dataclass(frozen=True)
class PageSelection:
    """The pages a request will read: [first_page, first_page + count)."""

    page_count: int
    first_page: int
    count: int
    metadata: DocumentMetadata = field(default_factory=DocumentMetadata)  # what a born-digital PDF says

    @property
    def indices(self) -> range:
        return range(self.first_page, self.first_page + self.count)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_bytes(data: bytes, limits: PdfLimits) -> None:
    """Size, header and trailer: what can be told without parsing."""
    if len(data) == 0:
        raise invalid("EMPTY_INPUT", "the request holds no PDF bytes")
    if len(data) > limits.max_bytes:
        raise over_limit(
            "PDF_TOO_LARGE",
            f"PDF is {len(data)} bytes, over the limit of {limits.max_bytes} bytes",
            field="pdf_data",
            size=str(len(data)),
            limit=str(limits.max_bytes),
        )
    # The header may follow a little leading junk (the spec allows it within the first 1 KiB).
    if b"%PDF-" not in data[:1024]:
        raise invalid(
            "NOT_A_PDF", "input is not a PDF (no %PDF- header), nor a PNG, JPEG, TIFF or WebP image"
        )
    if b"%%EOF" not in data[-_TRAILER_WINDOW:]:
        raise invalid("PDF_TRUNCATED", "PDF is truncated or damaged (no %%EOF trailer at its end)")


def open_pdf(data: bytes, limits: PdfLimits) -> pdfium.PdfDocument:
    """Parse the PDF; refuse encrypted, corrupt, empty and over-long documents."""
    check_bytes(data, limits)
    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as error:
            raise _load_error(error, data) from None
        page_count = len(document)
    if page_count == 0:
        _close(document)
        raise invalid("PDF_NO_PAGES", "PDF has no pages")
    if page_count > limits.max_pages:
        _close(document)
        raise over_limit(
            "TOO_MANY_PAGES",
            f"PDF has {page_count} pages, over the limit of {limits.max_pages}",
            field="pdf_data",
            pages=str(page_count),
            limit=str(limits.max_pages),
        )
    return document


def select_pages(page_count: int, first_page: int, page_limit: int) -> PageSelection:
    if first_page < 0 or first_page >= page_count:
        raise invalid(
            "FIRST_PAGE_OUT_OF_RANGE",
            f"first_page {first_page} is outside the document's pages 0..{page_count - 1}",
            field="options.first_page",
        )
    if page_limit < 0:
        raise invalid(
            "BAD_PAGE_LIMIT", f"page_limit must be >= 0, got {page_limit}", field="options.page_limit"
        )
    available = page_count - first_page
    return PageSelection(page_count, first_page, min(available, page_limit) if page_limit else available)


def check_dpi(dpi: int, *, low: int, high: int) -> None:
    if not low <= dpi <= high:
        raise invalid("BAD_DPI", f"dpi must be between {low} and {high}, got {dpi}", field="options.dpi")


def page_pixels(document: pdfium.PdfDocument, index: int, dpi: int) -> tuple[int, int]:
    """(width, height) in pixels that page `index` rasterises to at `dpi`."""
    with PDFIUM_LOCK:
        try:
            width_pt, height_pt = document.get_page_size(index)
        except pdfium.PdfiumError as error:  # page-tree damage (a kid that is not a page, a cycle)
            raise invalid(
                "PDF_CORRUPT",
                f"page {index} cannot be loaded: the PDF's page tree is damaged ({error})",
                page=str(index),
            ) from None
    return round(width_pt * dpi / 72), round(height_pt * dpi / 72)


def check_pixel_budget(document: pdfium.PdfDocument, pages: range, dpi: int, max_pixels: int) -> None:
    for index in pages:
        width, height = page_pixels(document, index, dpi)
        if width <= 0 or height <= 0:
            raise invalid(
                "PDF_BAD_PAGE_SIZE", f"page {index} has no area ({width}x{height} px)", page=str(index)
            )
        if width * height > max_pixels:
            raise over_limit(
                "PAGE_TOO_LARGE",
                f"page {index} would be {width}x{height} px at {dpi} dpi, over the budget of "
                f"{max_pixels} px per page; use a lower dpi",
                field="options.dpi",
                page=str(index),
                pixels=str(width * height),
                limit=str(max_pixels),
            )


def _load_error(error: pdfium.PdfiumError, data: bytes) -> InvalidInput:
    # PDFium refuses a document whose page tree is empty, with a misleading error code; the
    # page tree's /Count tells that case apart.
    counts = _PAGE_COUNT.findall(data)
    if counts and all(int(count) == 0 for count in counts):
        return invalid("PDF_NO_PAGES", "PDF has no pages")
    if error.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY) and b"/Encrypt" in data:
        return invalid("PDF_ENCRYPTED", "PDF is encrypted (a password is required to open it)")
    return invalid("PDF_CORRUPT", f"PDF cannot be read: {error}")


def _close(document: pdfium.PdfDocument) -> None:
    with PDFIUM_LOCK:
        document.close()
