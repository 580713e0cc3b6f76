"""The document pipeline: PDF bytes or image files → header, one PageFragment per page (in page order, each as
soon as it is ready), summary. Shared by the gRPC service and `etude transcribe`.

Stages per page: rasterise and find staves (in the request's PDF worker process, which is killed
when a page runs over its time or memory budget: pages/worker.py), recognise the staves (the
dynamic batcher, shared by every request), decode symbols into a fragment (in page order, because
each page starts from the context the previous one ended in). A few pages run ahead of the one being
streamed so that layout work overlaps inference. Closing the event stream early (a cancelled
call) cancels the pages still in flight; their queued staves never reach the model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
from etude.ir.v1 import score_pb2
from etude.omr.v1 import omr_service_pb2

import recognition.loader
from omr_server import metrics
from omr_server.batching import DynamicBatcher
from omr_server.fragment.build import TokenReading, build_fragment
from omr_server.fragment.context import ReadingContext
from omr_server.pages.media import PDF_MEDIA_TYPE, document_kind
from omr_server.pages.validate import PageSelection, PdfLimits, check_dpi, sha256_hex
from omr_server.pages.worker import PdfWorker, WorkerLimits
from omr_server.settings import OmrSettings
from omr_server.staves.layout import PageLayout
from recognition.loader import model_digest
from recognition.meter import last_metre

SERVICE_VERSION = "0.1.0"


class Recognizer(Protocol):
    """The staff recognition model as the pipeline uses it (recognition.recognizer)."""

    @property
    def input_height(self) -> int: ...
    @property
    def providers(self) -> Sequence[str]: ...
    def recognize(self, images: Sequence[np.ndarray]) -> Sequence[TokenReading]: ...
    def reread_page(
        self, images: Sequence[np.ndarray], readings: Sequence[Any], carried: Fraction | None = None
    ) -> Sequence[TokenReading]: ...


@dataclass(frozen=True)
class DocumentRequest:
    pdf: bytes  # a PDF, or one image file (media_type says which; b"" when `images` is set)
    dpi: int = 0  # 0: the server default
    first_page: int = 0
    page_limit: int = 0  # 0: every page from first_page
    file_name: str = ""
    media_type: str = ""  # "", application/pdf or image/*: see omr_service.proto
    images: tuple[bytes, ...] = ()  # several image files as the pages of one document

    @property
    def is_image(self) -> bool:
        """Whether the document is images (InvalidInput for a media type not read here)."""
        return bool(self.images) or document_kind(self.media_type, self.pdf) == "image"

    @property
    def image_files(self) -> tuple[bytes, ...]:
        return self.images or (self.pdf,)

    def sha256(self) -> str:
        """Of the bytes; of several image files, of their digests in order (omr_service.proto)."""
        if not self.images:
            return sha256_hex(self.pdf)
        return sha256_hex("".join(sha256_hex(data) for data in self.images).encode())


@dataclass
class _PageWork:
    layout: PageLayout
    readings: Sequence[TokenReading]
    started: float
    curved: tuple[tuple[int, float, float], ...] = ()


def warn_curved(fragment: score_pb2.PageFragment, curved: Sequence[tuple[int, float, float]]) -> None:
    """One page warning naming the staves whose lines bend too much to be read reliably."""
    if not curved:
        return
    staves = ", ".join(f"{index + 1} ({bend:.2f}, {kept:.0%})" for index, bend, kept in curved)
    fragment.warnings.add(
        code=score_pb2.WARNING_CODE_CURVED_STAFF,
        message=(
            f"staff lines are too curved to read reliably on {len(curved)} of {fragment.staff_count} "
            f"staves (staff: bend in staff spaces, share of its length read: {staves}); "
            "flatten the page or scan it"
        ),
        page_index=fragment.page_index,
    )


async def open_document(worker: PdfWorker, request: DocumentRequest, dpi: int) -> PageSelection:
    """Open `request`'s PDF or images in `worker` and check the pages selected."""
    if request.is_image:
        return await worker.open_images(request.image_files, request.first_page, request.page_limit, dpi)
    return await worker.open(request.pdf, request.first_page, request.page_limit, dpi)


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
        # Threads that only wait on PDF worker pipes: one per request, a few to reap children.
        self._pipe_pool = ThreadPoolExecutor(
            max_workers=settings.max_concurrent_requests + 4, thread_name_prefix="omr-pdf-pipe"
        )
        self.limits = worker_limits(settings)
        self.pages_in_flight = settings.pages_in_flight or 2

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
        (await self.new_worker()).close()  # starts the forkserver that PDF workers come from

    async def close(self) -> None:
        await self.batcher.stop()
        self._layout_pool.shutdown(wait=False, cancel_futures=True)
        self._pipe_pool.shutdown(wait=False, cancel_futures=True)

    async def new_worker(self) -> PdfWorker:
        """A PDF worker process for one request (started off the loop: it may start the forkserver)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pipe_pool, PdfWorker, self.limits, self._pipe_pool)

    async def open(self, request: DocumentRequest, dpi: int) -> tuple[PdfWorker, PageSelection]:
        """Check the options and the document in a new worker; the caller closes the worker."""
        check_dpi(dpi, low=self.settings.min_dpi, high=self.settings.max_dpi)
        worker = await self.new_worker()
        try:
            return worker, await open_document(worker, request, dpi)
        except BaseException:
            worker.close()
            raise

    async def run(self, request: DocumentRequest) -> AsyncIterator[omr_service_pb2.RecognizeDocumentResponse]:
        """Header, pages in order, summary. Raises RequestError before the header for bad input."""
        started = time.perf_counter()
        dpi = request.dpi or self.settings.default_dpi
        worker, selection = await self.open(request, dpi)
        try:
            # Hashing a large PDF takes a while: off the event loop.
            header = await asyncio.to_thread(self._header, request, selection, dpi)
            yield omr_service_pb2.RecognizeDocumentResponse(header=header)
            summary = omr_service_pb2.DocumentSummary()
            async for fragment in self._pages(worker, selection, dpi):
                summary.pages_read += 1
                summary.staves += fragment.staff_count
                summary.notes += len(fragment.notes)
                summary.warnings.extend(fragment.warnings)
                yield omr_service_pb2.RecognizeDocumentResponse(page=fragment)
            summary.elapsed_seconds = time.perf_counter() - started
            yield omr_service_pb2.RecognizeDocumentResponse(summary=summary)
        finally:
            worker.close()  # a kill: never waits for PDFium

    def _header(
        self, request: DocumentRequest, selection: PageSelection, dpi: int
    ) -> omr_service_pb2.DocumentHeader:
        return omr_service_pb2.DocumentHeader(
            page_count=selection.page_count,
            first_page=selection.first_page,
            pages_to_read=selection.count,
            pdf_sha256=request.sha256(),
            dpi=dpi,
            model=self.model_info,
            service_version=SERVICE_VERSION,
            media_type="image/*" if request.is_image else PDF_MEDIA_TYPE,
            metadata=score_pb2.Metadata(**vars(selection.metadata)),
        )

    async def _pages(
        self, worker: PdfWorker, selection: PageSelection, dpi: int
    ) -> AsyncIterator[score_pb2.PageFragment]:
        """Fragments in page order. The first page has the CPU to itself (its fragment comes
        first); after it, a page's layout starts once the previous page's layout is done, at most
        `pages_in_flight` pages ahead of the one being streamed, so each page's inference and
        re-reading overlap the next page's layout."""
        window = asyncio.Semaphore(self.pages_in_flight)
        started: asyncio.Queue[asyncio.Task[_PageWork]] = asyncio.Queue()
        tasks: list[asyncio.Task[_PageWork]] = []

        async def feed() -> None:
            loop = asyncio.get_running_loop()
            metre: asyncio.Future[Fraction | None] = loop.create_future()
            metre.set_result(None)  # nothing is in force before the first page
            for page_index in selection.indices:
                await window.acquire()
                laid_out = asyncio.Event()
                metre_after: asyncio.Future[Fraction | None] = loop.create_future()
                read = self._read_page(worker, page_index, dpi, laid_out, (metre, metre_after))
                task = asyncio.create_task(read)
                metre = metre_after
                tasks.append(task)
                started.put_nowait(task)
                await (asyncio.wait([task]) if page_index == selection.indices[0] else laid_out.wait())

        feeder = asyncio.create_task(feed())
        context = ReadingContext()
        try:
            for page_index in selection.indices:
                work = await (await started.get())
                decode_started = time.perf_counter()
                fragment, context = build_fragment(
                    page_index, work.layout, work.readings, context, self.recognizer.input_height
                )
                warn_curved(fragment, work.curved)
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
        self,
        worker: PdfWorker,
        page_index: int,
        dpi: int,
        laid_out: asyncio.Event,
        metres: tuple[asyncio.Future[Fraction | None], asyncio.Future[Fraction | None]],
    ) -> _PageWork:
        """Lay out, read and re-read one page. `metres`: the bar length in force before the page
        (set by the previous page once it is read) and after it (set here, for the next page)."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        before, after = metres
        try:
            try:
                page = await worker.lay_out(page_index, dpi, self.recognizer.input_height)
            finally:
                laid_out.set()
            layout, crops = page.layout, page.crops
            metrics.LAYOUT_SECONDS.observe(time.perf_counter() - started)
            readings: Sequence[TokenReading] = await self.batcher.submit(crops)
            carried = await before
            after.set_result(last_metre([r.symbols for r in readings], carried))
        finally:
            if not after.done():  # this page failed: the document ends with it
                after.cancel()
        if self.settings.reread_beams:
            # Bars that do not fill the metre are re-read knowing the time signature in force.
            reread = self.recognizer.reread_page
            readings = await loop.run_in_executor(self._layout_pool, reread, crops, readings, carried)
        return _PageWork(layout, readings, started, page.curved)


async def check_document(settings: OmrSettings, request: DocumentRequest) -> PageSelection:
    """Open and check `request` in a PDF worker of its own, without a model: `etude transcribe`
    refuses a bad PDF or image before it spends seconds loading one."""
    dpi = request.dpi or settings.default_dpi
    check_dpi(dpi, low=settings.min_dpi, high=settings.max_dpi)
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="omr-pdf-pipe")
    loop = asyncio.get_running_loop()
    worker = await loop.run_in_executor(pool, PdfWorker, worker_limits(settings), pool)
    try:
        return await open_document(worker, request, dpi)
    finally:
        worker.close()
        pool.shutdown(wait=False)


def worker_limits(settings: OmrSettings) -> WorkerLimits:
    return WorkerLimits(
        pdf=PdfLimits(settings.max_pdf_bytes, settings.max_pages, settings.max_page_pixels),
        step_seconds=settings.max_page_seconds,
        memory_bytes=settings.max_page_memory_mb * 1024 * 1024,
        max_image_pixels=settings.max_image_pixels,
        max_staves_per_page=min(settings.max_staves_per_page, settings.max_queued_staves),
    )


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
