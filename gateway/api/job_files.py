"""What the web page reads of a job besides its final score: the PDF or images its owner
uploaded, and the score of one page as soon as that page's fragment is stored (before the whole
job completes).

Both are scoped by owner exactly like the other job reads: another owner's job is NOT_FOUND.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from etude.ir.v1 import score_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import images, media
from gateway.errors import ConflictError, InvalidArgumentError, NotFoundError
from gateway.jobs.results import ScoreContent, assemble
from gateway.validation import INT32_MAX, check_job_id
from ir.export import FORMATS as SCORE_FORMATS
from storage.objects import ObjectStore
from storage.tables import artifacts, job_pages, jobs

# A page's score is read to be shown: the IR (notes, warnings, confidence) and what Verovio engraves.
PAGE_FORMATS = ("json", "musicxml")


async def _owned_job(engine: AsyncEngine, owner: str, job_id: str) -> Mapping[Any, Any]:
    check_job_id(job_id)
    async with engine.connect() as connection:
        row = (
            (await connection.execute(select(jobs).where(jobs.c.id == job_id, jobs.c.owner == owner)))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFoundError(f"no job {job_id!r}", reason="NO_SUCH_JOB", field="job_id")
    return row


async def _artifact_key(engine: AsyncEngine, artifact_id: int) -> str:
    async with engine.connect() as connection:
        key = await connection.scalar(select(artifacts.c.key).where(artifacts.c.id == artifact_id))
    if key is None:
        raise NotFoundError("the stored file is gone", reason="NO_SUCH_OBJECT")
    return str(key)


async def job_pdf(engine: AsyncEngine, store: ObjectStore, owner: str, job_id: str) -> bytes:
    """The PDF as uploaded (the gateway keeps it content-addressed for the worker)."""
    job = await _owned_job(engine, owner, job_id)
    return await store.get(await _artifact_key(engine, int(job["pdf_artifact_id"])))


@dataclass(frozen=True)
class Original:
    """What a job was created from, as its owner uploaded it: one PDF, one image (a TIFF's
    frames being pages), or several images stored as one ImageFiles bundle (gateway.media)."""

    data: bytes
    files: list[bytes]  # the uploaded files in page order; a PDF or single image is files[0]

    @property
    def media_type(self) -> str:
        if len(self.files) > 1:
            return media.IMAGE_FILES
        return media.sniff(self.data) or media.PDF

    @property
    def kind(self) -> str:
        """ "pdf" or "images": how a viewer draws it."""
        return "pdf" if self.media_type == media.PDF else "images"


async def job_original(engine: AsyncEngine, store: ObjectStore, owner: str, job_id: str) -> Original:
    data = await job_pdf(engine, store, owner, job_id)
    return Original(data, media.unbundle(data) or [data])


def _index(raw: str, field: str, first: str, reason: str) -> int:
    """A 0-based index given in a path or query (at most int32); anything else is a bad request
    saying what index 0 is (`first`)."""
    if not raw.isdigit() or len(raw) > 10 or int(raw) > INT32_MAX:
        raise InvalidArgumentError(
            f"{field} must be a non-negative integer (0 is {first})", reason=reason, field=field
        )
    return int(raw)


def file_number(raw: str, count: int) -> int:
    """The 0-based index of an uploaded file in a path (`/original/{file_index}`)."""
    index = _index(raw, "file_index", "the first file uploaded", "BAD_FILE_INDEX")
    if index >= count:
        raise NotFoundError(
            f"the job was created from {count} file{'' if count == 1 else 's'}; there is no file {index}",
            reason="NO_SUCH_FILE",
            field="file_index",
        )
    return index


# What `?as=` may ask a file to be served as, besides as uploaded: PNG, which every browser draws.
RENDITIONS = ("png",)


def png_frame(query: Mapping[str, str]) -> int | None:
    """The 0-based frame asked for as a PNG (`?as=png&frame=K`, K 0 by default), or None when the
    file is asked for as uploaded."""
    kind, raw = query.get("as"), query.get("frame")
    if kind is None and raw is None:
        return None
    if kind not in RENDITIONS:
        raise InvalidArgumentError(
            f"unknown rendition {kind!r}; a file comes as uploaded or, with ?as=png, as a PNG",
            reason="BAD_RENDITION",
            field="as",
        )
    return 0 if raw is None else _index(raw, "frame", "the file's first page", "BAD_FRAME")


@dataclass(frozen=True)
class OriginalFile:
    data: bytes
    media_type: str
    frames: int | None  # the pages an image holds (a TIFF's frames, else 1); None for a PDF


async def original_file(data: bytes, frame: int | None, max_pixels: int) -> OriginalFile:
    """One uploaded file as uploaded (`frame` None) or frame `frame` of it as a PNG: browsers draw
    no TIFF. Decoding is CPU work: off the event loop."""
    media_type = media.sniff(data) or media.PDF
    if media_type not in media.IMAGE_TYPES:
        if frame is not None:
            raise InvalidArgumentError(
                "a PDF has no PNG rendition; only an image file is served ?as=png",
                reason="BAD_RENDITION",
                field="as",
            )
        return OriginalFile(data, media_type, None)
    if frame is None:
        return OriginalFile(data, media_type, await asyncio.to_thread(images.frame_count, data, max_pixels))
    png, frames = await asyncio.to_thread(images.frame_png, data, frame, max_pixels)
    return OriginalFile(png, "image/png", frames)


def page_number(raw: str) -> int:
    """The 0-based page index of a path (`/pages/{page_index}/…`); anything else is a bad request."""
    return _index(raw, "page_index", "the first page read", "BAD_PAGE_INDEX")


async def page_score(
    engine: AsyncEngine, store: ObjectStore, owner: str, job_id: str, page_index: int, fmt: str
) -> ScoreContent:
    """One page's fragment assembled on its own into a Score, as IR JSON or MusicXML. Measures
    are numbered from the page's first; the job's final score (GET …/score) numbers them across
    the document and carries context (key, ties) from page to page."""
    if fmt not in PAGE_FORMATS:
        raise InvalidArgumentError(
            f"unknown format {fmt!r}; a page's score comes as {' or '.join(PAGE_FORMATS)}",
            reason="BAD_FORMAT",
            field="format",
        )
    job = await _owned_job(engine, owner, job_id)
    async with engine.connect() as connection:
        artifact_id = await connection.scalar(
            select(job_pages.c.artifact_id).where(
                job_pages.c.job_id == job_id, job_pages.c.page_index == page_index
            )
        )
    if artifact_id is None:
        raise ConflictError(
            f"page {page_index} of job {job_id} is not read yet", reason="PAGE_NOT_READ", field="page_index"
        )
    fragment = score_pb2.PageFragment.FromString(await store.get(await _artifact_key(engine, artifact_id)))
    from ir.export import export_score

    # Assembly and music21 are CPU work: off the event loop.
    score = await asyncio.to_thread(assemble, [fragment], dict(job))
    data, content_type = await asyncio.to_thread(export_score, score, fmt)
    return ScoreContent(fmt, data, content_type or SCORE_FORMATS[fmt].content_type)
