"""The document pipeline: PDF bytes → header, one PageFragment per page (in page order, each as
soon as it is ready), summary. Shared by the gRPC service and `etude transcribe`.

Stages per page: rasterise and find staves (a CPU thread), recognise the staves (the dynamic
batcher, shared by every request), decode symbols into a fragment (in page order, because each
page starts from the context the previous one ended in). A few pages run ahead of the one being
streamed so that layout work overlaps inference. Closing the event stream early (a cancelled
call) cancels the pages still in flight; their queued staves never reach the model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pypdfium2 as pdfium
from etude.ir.v1 import score_pb2
from etude.omr.v1 import omr_service_pb2

import recognition.loader
from omr_server import metrics
from omr_server.batching import DynamicBatcher
from omr_server.errors import invalid
from omr_server.fragment.build import TokenReading, build_fragment
from omr_server.fragment.context import ReadingContext
from omr_server.pages.rasterise import rasterise_page
from omr_server.pages.validate import (
    PDFIUM_LOCK,
    PageSelection,
    PdfLimits,
    check_dpi,
    check_pixel_budget,
    open_pdf,
    select_pages,
    sha256_hex,
)
from omr_server.settings import OmrSettings
from omr_server.staves.detect import detect_layout
from omr_server.staves.layout import PageLayout
from recognition.crop import crop_staff
from recognition.loader import model_digest

SERVICE_VERSION = "0.1.0"


class Recognizer(Protocol):
    """The staff recognition model as the pipeline uses it (recognition.recognizer)."""

    @property
    def input_height(self) -> int: ...
    @property
    def providers(self) -> Sequence[str]: ...
    def recognize(self, images: Sequence[np.ndarray]) -> Sequence[TokenReading]: ...
    def reread_page(
        self, images: Sequence[np.ndarray], readings: Sequence[Any]
    ) -> Sequence[TokenReading]: ...


@dataclass(frozen=True)
class DocumentRequest:
    pdf: bytes
    dpi: int = 0  # 0: the server default
    first_page: int = 0
    page_limit: int = 0  # 0: every page from first_page
    file_name: str = ""


@dataclass
class _PageWork:
    layout: PageLayout
    readings: Sequence[TokenReading]
    started: float


class OmrEngine:
    """A loaded model with its batcher and worker threads; one per process."""

    def __init__(
        self, settings: OmrSettings, recognizer: Recognizer, model_info: score_pb2.ModelInfo
    ) -> None:
        self.settings = settings
        self.recognizer = recognizer
        self.model_info = model_info
        self.batcher: DynamicBatcher[TokenReading] = DynamicBatcher(
            recognizer.recognize,  # type: ignore[arg-type]
            max_batch_size=settings.max_batch_size,
            max_queue_delay_s=settings.max_queue_delay_ms / 1000,
            max_queued=settings.max_queued_staves,
            workers=settings.inference_threads,
        )
        self._layout_pool = ThreadPoolExecutor(
            max_workers=settings.layout_threads, thread_name_prefix="omr-layout"
        )
        self.limits = PdfLimits(settings.max_pdf_bytes, settings.max_pages, settings.max_page_pixels)
        on_gpu = any(provider != "CPUExecutionProvider" for provider in recognizer.providers)
        self.pages_in_flight = settings.pages_in_flight or (2 if on_gpu else 1)

    @classmethod
    async def load(cls, settings: OmrSettings) -> OmrEngine:
        """Load the model from `settings.model_dir` (raises FileNotFoundError / ValueError with a
        clear message when it is missing or broken), start batching and run one warm-up inference."""
        recognizer, info = await asyncio.to_thread(load_recognizer, settings)
        engine = cls(settings, recognizer, info)
        engine.batcher.start()
        await engine.warm_up()
        return engine

    async def warm_up(self) -> None:
        """One inference on a blank staff, so the first request does not pay for lazy init."""
        blank = np.zeros((self.recognizer.input_height, self.recognizer.input_height * 4), np.float32)
        await self.batcher.submit([blank])

    async def close(self) -> None:
        await self.batcher.stop()
        self._layout_pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, request: DocumentRequest) -> AsyncIterator[omr_service_pb2.RecognizeDocumentResponse]:
        """Header, pages in order, summary. Raises RequestError before the header for bad input."""
        started = time.perf_counter()
        dpi = request.dpi or self.settings.default_dpi
        # Parsing and hashing a large PDF takes a while: off the event loop, like every page.
        opening = asyncio.ensure_future(asyncio.to_thread(self._open, request, dpi))
        try:
            document, selection, header = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_when_opened)  # the thread still runs: close its result
            raise
        try:
            yield omr_service_pb2.RecognizeDocumentResponse(header=header)
            summary = omr_service_pb2.DocumentSummary()
            async for fragment in self._pages(document, selection, dpi):
                summary.pages_read += 1
                summary.staves += fragment.staff_count
                summary.notes += len(fragment.notes)
                summary.warnings.extend(fragment.warnings)
                yield omr_service_pb2.RecognizeDocumentResponse(page=fragment)
            summary.elapsed_seconds = time.perf_counter() - started
            yield omr_service_pb2.RecognizeDocumentResponse(summary=summary)
        finally:
            with PDFIUM_LOCK:
                document.close()

    def _open(
        self, request: DocumentRequest, dpi: int
    ) -> tuple[pdfium.PdfDocument, PageSelection, omr_service_pb2.DocumentHeader]:
        """Validate options and document; the open document, the pages to read, the header."""
        check_dpi(dpi, low=self.settings.min_dpi, high=self.settings.max_dpi)
        document = open_pdf(request.pdf, self.limits)
        try:
            with PDFIUM_LOCK:
                page_count = len(document)
            selection = select_pages(page_count, request.first_page, request.page_limit)
            check_pixel_budget(document, selection.indices, dpi, self.settings.max_page_pixels)
            return document, selection, self._header(request, selection, dpi)
        except BaseException:
            with PDFIUM_LOCK:
                document.close()
            raise

    def _header(
        self, request: DocumentRequest, selection: PageSelection, dpi: int
    ) -> omr_service_pb2.DocumentHeader:
        return omr_service_pb2.DocumentHeader(
            page_count=selection.page_count,
            first_page=selection.first_page,
            pages_to_read=selection.count,
            pdf_sha256=sha256_hex(request.pdf),
            dpi=dpi,
            model=self.model_info,
            service_version=SERVICE_VERSION,
        )

    async def _pages(
        self, document: pdfium.PdfDocument, selection: PageSelection, dpi: int
    ) -> AsyncIterator[score_pb2.PageFragment]:
        """Fragments in page order. A page's layout starts once the previous page's layout is done
        (so the first page has the CPU to itself), at most `pages_in_flight` pages ahead of the
        one being streamed; each page's inference overlaps the next page's layout."""
        window = asyncio.Semaphore(self.pages_in_flight)
        started: asyncio.Queue[asyncio.Task[_PageWork]] = asyncio.Queue()
        tasks: list[asyncio.Task[_PageWork]] = []

        async def feed() -> None:
            for page_index in selection.indices:
                await window.acquire()
                laid_out = asyncio.Event()
                task = asyncio.create_task(self._read_page(document, page_index, dpi, laid_out))
                tasks.append(task)
                started.put_nowait(task)
                await laid_out.wait()

        feeder = asyncio.create_task(feed())
        context = ReadingContext()
        try:
            for page_index in selection.indices:
                work = await (await started.get())
                decode_started = time.perf_counter()
                fragment, context = build_fragment(page_index, work.layout, work.readings, context)
                metrics.DECODE_SECONDS.observe(time.perf_counter() - decode_started)
                fragment.elapsed_seconds = time.perf_counter() - work.started
                metrics.PAGE_SECONDS.observe(fragment.elapsed_seconds)
                metrics.PAGES.labels("music" if fragment.staff_count else "no_music").inc()
                metrics.STAVES.inc(fragment.staff_count)
                metrics.NOTES.inc(len(fragment.notes))
                yield fragment
                window.release()
        finally:
            for task in (feeder, *tasks):
                task.cancel()
            await asyncio.gather(feeder, *tasks, return_exceptions=True)

    async def _read_page(
        self, document: pdfium.PdfDocument, page_index: int, dpi: int, laid_out: asyncio.Event
    ) -> _PageWork:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            layout, crops = await loop.run_in_executor(
                self._layout_pool, self._layout_and_crops, document, page_index, dpi
            )
        finally:
            laid_out.set()
        metrics.LAYOUT_SECONDS.observe(time.perf_counter() - started)
        readings: Sequence[TokenReading] = await self.batcher.submit(crops)
        if self.settings.reread_beams:
            # Bars that do not fill the metre are re-read knowing the page's time signature.
            reread = self.recognizer.reread_page
            readings = await loop.run_in_executor(self._layout_pool, reread, crops, readings)
        return _PageWork(layout, readings, started)

    def _layout_and_crops(
        self, document: pdfium.PdfDocument, page_index: int, dpi: int
    ) -> tuple[PageLayout, list[np.ndarray]]:
        try:
            image = rasterise_page(document, page_index, dpi)
        except Exception as error:  # PDFium could parse the file but not draw this page
            raise invalid("PDF_PAGE_UNREADABLE", f"page {page_index} cannot be rasterised: {error}") from None
        layout = detect_layout(image)
        height = self.recognizer.input_height
        crops = [
            crop_staff(layout.image, staff.top, staff.bottom, staff.left_x, staff.right_x, height=height)
            for staff in layout.staves
        ]
        return layout, crops


def _close_when_opened(opening: asyncio.Future[tuple[pdfium.PdfDocument, PageSelection, Any]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        with PDFIUM_LOCK:
            opening.result()[0].close()


def load_recognizer(settings: OmrSettings) -> tuple[Recognizer, score_pb2.ModelInfo]:
    """The recognizer the settings name and its ModelInfo; FileNotFoundError names a missing model."""
    recognizer = recognition.loader.load_recognizer(
        settings.model_dir, settings.providers, reread_beams=settings.reread_beams
    )
    manifest = recognizer.manifest
    info = score_pb2.ModelInfo(
        name=manifest.name, version=manifest.version, sha256=model_digest(manifest.sha256)
    )
    return recognizer, info
