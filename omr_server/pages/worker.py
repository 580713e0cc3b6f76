"""PDFium in a child process: open one document, then draw its pages and find their staves.

PDFium is neither thread-safe nor interruptible: a page that draws a Form XObject ten times
over, seven levels deep, holds the process-wide PDFium lock for minutes, and a huge embedded
image takes gigabytes. So every request gets its own child process (forked from a forkserver
that has the modules loaded, a few milliseconds) holding its document. Each step has a time
budget; a step over budget, or a child that dies (over its memory limit, or PDFium crashed),
ends with a clear `LimitExceeded`, and the child is killed. The server process never calls
PDFium, so its event loop never waits for it, and closing a document is a SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import resource
import sys
import threading
import types
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from omr_server.errors import OmrError, invalid, over_limit
from omr_server.pages.images import ImageDocument, open_images, page_image
from omr_server.pages.metadata import read_metadata
from omr_server.pages.rasterise import rasterise_page
from omr_server.pages.validate import PageSelection, PdfLimits, check_pixel_budget, open_pdf, select_pages
from omr_server.staves.layout import PageLayout
from omr_server.staves.straighten import straight_crops

_MIB = 1024 * 1024
WORKER_NAME = "omr-pdf-worker"
_IMAGE_SEARCH_DEPTH = 4  # Form XObject levels searched for images (deeper ones still hit RLIMIT_AS)


@dataclass(frozen=True)
class WorkerLimits:
    """What one request's child may spend (settings: max_page_seconds and friends)."""

    pdf: PdfLimits
    step_seconds: float  # opening the document; drawing one page and finding its staves
    memory_bytes: int  # address space beyond what the child starts with
    max_image_pixels: int  # decoded pixels of one embedded image
    max_staves_per_page: int


@dataclass(frozen=True)
class LaidOutPage:
    """A page's layout (its `image` a one-byte stand-in of the page's shape: only the shape is
    used once the staves are cut) and the staff crops for the model."""

    layout: PageLayout
    crops: list[np.ndarray]
    shape: tuple[int, int]  # of the page image
    # (staff index in reading order, bend in staff spaces, share of its length kept) of the
    # staves too curved to read reliably (staves/curvature.py).
    curved: tuple[tuple[int, float, float], ...] = ()


class PdfWorker:
    """One document in one child process. Calls are serialised; `close()` never blocks."""

    def __init__(self, limits: WorkerLimits, pipe_pool: Executor) -> None:
        self.limits = limits
        self._pool = pipe_pool
        self._lock = asyncio.Lock()
        parent, child = _CONTEXT.Pipe()
        self._conn = parent
        self._process = _CONTEXT.Process(
            target=_child_main, args=(child, limits), name=WORKER_NAME, daemon=True
        )
        _start_without_main(self._process)
        child.close()

    async def open(self, pdf: bytes, first_page: int, page_limit: int, dpi: int) -> PageSelection:
        """Parse and check the document and the pages selected (size, page tree, pixel budget)."""
        result = await self._call(
            "open",
            (pdf, first_page, page_limit, dpi),
            lambda: over_limit(
                "PDF_OPEN_TIMEOUT",
                f"the PDF took more than {self.limits.step_seconds:g} s to open and check",
            ),
            lambda: over_limit(
                "PDF_OPEN_ABORTED",
                "opening the PDF was stopped: it needed more than "
                f"{self.limits.memory_bytes // _MIB} MiB or crashed the PDF renderer",
            ),
        )
        assert isinstance(result, PageSelection)
        return result

    async def open_images(
        self, files: tuple[bytes, ...], first_page: int, page_limit: int, dpi: int
    ) -> PageSelection:
        """Parse the image files and check every selected page (size, pixel budget, full decode)."""
        result = await self._call(
            "open_images",
            (files, first_page, page_limit, dpi),
            lambda: over_limit(
                "IMAGE_OPEN_TIMEOUT",
                f"the images took more than {self.limits.step_seconds:g} s to open and check",
            ),
            lambda: over_limit(
                "IMAGE_OPEN_ABORTED",
                "opening the images was stopped: it needed more than "
                f"{self.limits.memory_bytes // _MIB} MiB or crashed the image decoder",
            ),
        )
        assert isinstance(result, PageSelection)
        return result

    async def lay_out(self, page_index: int, dpi: int, crop_height: int) -> LaidOutPage:
        """Draw page `page_index`, find its staves and cut them out for the model."""
        result = await self._call(
            "lay_out",
            (page_index, dpi, crop_height),
            lambda: over_limit(
                "PAGE_RENDER_TIMEOUT",
                f"page {page_index} took more than {self.limits.step_seconds:g} s to draw and lay out",
                page=str(page_index),
            ),
            lambda: over_limit(
                "PAGE_RENDER_ABORTED",
                f"drawing page {page_index} was stopped: it needed more than "
                f"{self.limits.memory_bytes // _MIB} MiB or crashed the PDF renderer",
                page=str(page_index),
            ),
        )
        assert isinstance(result, LaidOutPage)
        stand_in = np.broadcast_to(np.uint8(255), result.shape)
        return replace(result, layout=replace(result.layout, image=stand_in))

    def close(self) -> None:
        """Kill the child (its document goes with it) and reap it off the event loop."""
        process = self._process
        if process.is_alive():
            process.kill()
        self._conn.close()
        # RuntimeError: the engine is shutting down its pool; multiprocessing reaps the child later.
        with contextlib.suppress(RuntimeError):
            self._pool.submit(process.join, 10)

    async def _call(
        self,
        op: str,
        args: tuple[Any, ...],
        on_timeout: Callable[[], OmrError],
        on_death: Callable[[], OmrError],
    ) -> object:
        async with self._lock:
            loop = asyncio.get_running_loop()
            reply = loop.run_in_executor(self._pool, self._round_trip, op, args)
            try:
                status, value = await asyncio.wait_for(reply, self.limits.step_seconds)
            except TimeoutError:
                self.close()
                raise on_timeout() from None
            except (EOFError, OSError):  # the child died: over RLIMIT_AS, or PDFium aborted
                self.close()
                raise on_death() from None
            except BaseException:  # cancelled: the child may be busy for minutes
                self.close()
                raise
        if status == "error":
            assert isinstance(value, OmrError)
            raise value
        if status == "bug":
            raise RuntimeError(f"PDF worker failed: {value}")
        return value

    def _round_trip(self, op: str, args: tuple[Any, ...]) -> tuple[str, object]:
        self._conn.send((op, args))
        reply = self._conn.recv()
        assert isinstance(reply, tuple)
        return reply


class _Document:
    """The child's side: one open document."""

    def __init__(self, limits: WorkerLimits) -> None:
        self.limits = limits
        self.document: pdfium.PdfDocument | None = None
        self.images: ImageDocument | None = None

    def open_images(
        self, files: tuple[bytes, ...], first_page: int, page_limit: int, dpi: int
    ) -> PageSelection:
        self.images, selection = open_images(
            files, first_page, page_limit, dpi, self.limits.pdf, self.limits.max_image_pixels
        )
        return selection

    def open(self, pdf: bytes, first_page: int, page_limit: int, dpi: int) -> PageSelection:
        self.document = open_pdf(pdf, self.limits.pdf)
        selection = select_pages(len(self.document), first_page, page_limit)
        check_pixel_budget(self.document, selection.indices, dpi, self.limits.pdf.max_page_pixels)
        return replace(selection, metadata=read_metadata(self.document, pdf))

    def lay_out(self, page_index: int, dpi: int, crop_height: int) -> LaidOutPage:
        image = self._page_image(page_index, dpi)
        from omr_server.staves.detect import detect_layout  # preloaded by the forkserver; see _make_context

        layout = detect_layout(image)
        staves = layout.staves
        if len(staves) > self.limits.max_staves_per_page:
            raise over_limit(
                "TOO_MANY_STAVES",
                f"page {page_index} holds {len(staves)} staves, over the limit of "
                f"{self.limits.max_staves_per_page} per page",
                page=str(page_index),
                staves=str(len(staves)),
                limit=str(self.limits.max_staves_per_page),
            )
        layout, crops, curved = straight_crops(layout, crop_height)
        # Only the shape of the page goes back; the parent rebuilds a stand-in of it.
        height, width = layout.image.shape
        blank = replace(layout, image=np.zeros((0, 0), np.uint8))
        return LaidOutPage(blank, crops, (height, width), tuple(curved))

    def _page_image(self, page_index: int, dpi: int) -> np.ndarray:
        if self.images is not None:
            limits = self.limits
            return page_image(
                self.images, page_index, dpi, limits.max_image_pixels, limits.pdf.max_page_pixels
            )
        assert self.document is not None, "open first"
        self._check_images(page_index)
        try:
            return rasterise_page(self.document, page_index, dpi)
        except (pdfium.PdfiumError, ValueError) as error:  # PDFium parsed the file, not this page
            raise invalid("PDF_PAGE_UNREADABLE", f"page {page_index} cannot be drawn: {error}") from None

    def _check_images(self, page_index: int) -> None:
        """Refuse a page whose embedded image would decode to more than the budget of pixels."""
        assert self.document is not None
        page = self.document[page_index]
        try:
            objects = page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=_IMAGE_SEARCH_DEPTH)
            for image in objects:
                assert isinstance(image, pdfium.PdfImage)
                width, height = image.get_px_size()
                if width * height > self.limits.max_image_pixels:
                    raise over_limit(
                        "IMAGE_TOO_LARGE",
                        f"page {page_index} embeds a {width}x{height} image, over the limit of "
                        f"{self.limits.max_image_pixels} pixels per image",
                        page=str(page_index),
                        pixels=str(width * height),
                        limit=str(self.limits.max_image_pixels),
                    )
        finally:
            page.close()


def _child_main(conn: multiprocessing.connection.Connection, limits: WorkerLimits) -> None:
    _limit_memory(limits.memory_bytes)
    document = _Document(limits)
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        reply: tuple[str, object]
        try:
            reply = ("ok", getattr(document, op)(*args))
        except OmrError as error:
            reply = ("error", error)
        except MemoryError:
            limit = limits.memory_bytes // _MIB
            reply = (
                "error",
                over_limit("PAGE_TOO_COSTLY", f"{op} needed more than the limit of {limit} MiB"),
            )
        except pdfium.PdfiumError as error:  # damage PDFium noticed only when asked for a page
            reply = ("error", invalid("PDF_CORRUPT", f"the PDF is damaged: {error}"))
        except Exception as error:  # a bug: the server logs it and answers INTERNAL
            reply = ("bug", f"{type(error).__name__}: {error}")
        conn.send(reply)


def _limit_memory(extra_bytes: int) -> None:
    """Cap the address space at what the child has now plus `extra_bytes`: allocations beyond
    fail (PDFium then draws without the image, or aborts; numpy raises MemoryError)."""
    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * resource.getpagesize()
    limit = current + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


_BARE_MAIN = types.ModuleType("__main__")
_START_LOCK = threading.Lock()


def _start_without_main(process: multiprocessing.process.BaseProcess) -> None:
    """Start `process` without making it re-run the program's main module: multiprocessing has
    each child import `__main__` anew (so that functions defined there can be unpickled), which
    under pytest or a script costs 0.3-2 s per request, and runs an unguarded script's code
    again. The child's target lives in this module; it needs nothing from `__main__`."""
    with _START_LOCK:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = _BARE_MAIN
        try:
            process.start()
        finally:
            sys.modules["__main__"] = main


def _make_context() -> Any:
    # A forkserver, not fork: the server has gRPC and onnxruntime threads that a fork would copy
    # mid-flight. The forkserver imports this module once, so each child starts in milliseconds.
    # Staff detection (scipy.ndimage, ~1 s to import) is preloaded here but not imported by
    # this module, so the server and `etude transcribe` only pay for it in the forkserver.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "omr_server.staves.detect"])
    return context


_CONTEXT = _make_context()
