"""The errors a request can end with: a small domain tree, free of any transport.

Every error carries

- `reason`: a stable machine-readable name (``PDF_CORRUPT``, ``TOO_MANY_STAVES`` …), for programs;
- `message`: one line for people, naming the problem and, where there is one, the way out;
- `field`: the request field at fault (``pdf_data``, ``options.dpi`` …), or None;
- `metadata`: a few string facts (the page, the limit …).

The kind of error says whether asking again can help:

- `InvalidInput`: the request is wrong (not a PDF, a damaged page tree, a page out of range).
  It never succeeds as sent.
- `LimitExceeded`: the request is over a limit of this server (too many pages or staves, a
  page too large or too slow to draw). It never succeeds as sent; its `field` is always set.
- `Busy`: the server is loaded (too many requests or staves queued). Retrying later may succeed.
- `NotReady`: the server is loading its model or shutting down. Retrying elsewhere may succeed.
- `NotFound`: an object the request names does not exist.

The reasons, by kind (the settings named are OmrSettings fields):

- InvalidInput: EMPTY_INPUT, NOT_A_PDF, PDF_TRUNCATED, PDF_CORRUPT (unparsable, or a damaged
  page tree), PDF_ENCRYPTED, PDF_NO_PAGES, PDF_BAD_PAGE_SIZE, PDF_PAGE_UNREADABLE, BAD_DPI,
  FIRST_PAGE_OUT_OF_RANGE, BAD_PAGE_LIMIT, OBJECT_SCHEME_UNSUPPORTED, OBJECT_READS_DISABLED,
  OBJECT_OUTSIDE_ROOT, OBJECT_SHA256_MISMATCH; for images (pages/images.py):
  UNSUPPORTED_MEDIA_TYPE, NOT_AN_IMAGE (not PNG, JPEG, TIFF or WebP), IMAGE_CORRUPT (truncated
  or damaged data).
- LimitExceeded: PDF_TOO_LARGE (max_pdf_bytes), TOO_MANY_PAGES (max_pages), PAGE_TOO_LARGE
  (max_page_pixels), IMAGE_TOO_LARGE (max_image_pixels: an embedded or uploaded image, a
  decompression bomb), TOO_MANY_STAVES (max_staves_per_page), INPUT_TOO_LARGE (image files over
  max_pdf_bytes), PDF_OPEN_TIMEOUT, IMAGE_OPEN_TIMEOUT and PAGE_RENDER_TIMEOUT
  (max_page_seconds), PDF_OPEN_ABORTED, IMAGE_OPEN_ABORTED, PAGE_RENDER_ABORTED and
  PAGE_TOO_COSTLY (max_page_memory_mb, or PDFium or an image decoder crashed).
- Busy: TOO_MANY_REQUESTS (max_concurrent_requests), INFERENCE_QUEUE_FULL (max_queued_staves).
- NotReady: NOT_READY. NotFound: OBJECT_NOT_FOUND. The base class: INTERNAL (a bug, logged).

Each boundary maps these once: the servicer (service.py) to a gRPC status with ErrorInfo and
BadRequest details, `etude transcribe` to one line and an exit status.
"""

from __future__ import annotations


class OmrError(Exception):
    """Base of the tree; see the module docstring. Picklable, so it crosses process boundaries."""

    def __init__(
        self, reason: str, message: str, field: str | None = None, metadata: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field
        self.metadata = dict(metadata or {})

    def __reduce__(self) -> tuple[type[OmrError], tuple[str, str, str | None, dict[str, str]]]:
        return type(self), (self.reason, self.message, self.field, self.metadata)


class InvalidInput(OmrError):
    """The request is wrong and never succeeds as sent."""


class LimitExceeded(OmrError):
    """The request is over one of this server's limits and never succeeds as sent."""


class Busy(OmrError):
    """The server is loaded; asking again later may succeed."""


class NotReady(OmrError):
    """The server is loading its model or shutting down."""


class NotFound(OmrError):
    """An object the request names does not exist."""


def invalid(reason: str, message: str, *, field: str = "pdf_data", **metadata: str) -> InvalidInput:
    return InvalidInput(reason, message, field, metadata)


def over_limit(reason: str, message: str, *, field: str = "pdf_data", **metadata: str) -> LimitExceeded:
    return LimitExceeded(reason, message, field, metadata)


def busy(reason: str, message: str, **metadata: str) -> Busy:
    return Busy(reason, message, None, metadata)
