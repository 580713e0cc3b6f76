"""REST API (Starlette), in the same process as gRPC and over the same job logic.

Jobs are JSON in the protobuf JSON mapping (snake_case field names, enum names as strings);
errors are application/problem+json (RFC 9457) with a machine-readable `reason`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from etude.omr.v1 import omr_service_pb2 as omr_pb2
from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from gateway import media
from gateway.api.job_files import (
    Original,
    file_number,
    job_original,
    job_pdf,
    original_file,
    page_number,
    page_score,
    png_frame,
)
from gateway.api.multipart import Rfc5987MultiPartParser
from gateway.api.openapi import openapi_document
from gateway.api.request_context import RequestContextMiddleware
from gateway.api.watch import Cursor, watch_job
from gateway.core import GatewayCore
from gateway.errors import GatewayError, InvalidArgumentError, TooLargeError, UnsupportedMediaTypeError
from gateway.jobs.records import JobState
from gateway.jobs.results import FORMATS
from gateway.validation import INT32_MAX, OPTION_FIELDS, check_options
from ir.export import FORMATS as SCORE_FORMATS
from storage.objects import ObjectStoreUnavailableError

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
# Room for multipart boundaries and form fields around the PDF itself.
MULTIPART_OVERHEAD = 64 * 1024
# `file` parts of one upload: several images are the pages of one document.
MAX_FILES = 100


def to_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


_INTEGER = re.compile(r"-?[0-9]{1,12}")


def _int_param(values: Any, name: str) -> int:
    """An int32 query or form parameter (0 when absent); beyond int32 is a bad request, not a 500."""
    raw = values.get(name)
    if raw in (None, ""):
        return 0
    if not _INTEGER.fullmatch(str(raw)):
        raise InvalidArgumentError(f"{name} must be an integer", reason="BAD_OPTIONS", field=name)
    value = int(str(raw))
    if not -INT32_MAX <= value <= INT32_MAX:
        raise InvalidArgumentError(
            f"{name} must be between 0 and {INT32_MAX}, got {value}", reason="BAD_OPTIONS", field=name
        )
    return value


def _options(values: Any) -> omr_pb2.RecognitionOptions:
    options = omr_pb2.RecognitionOptions(**{name: _int_param(values, name) for name in OPTION_FIELDS})
    check_options(options)
    return options


async def _uploaded(uploads: list[UploadFile], limit: int) -> bytes:
    """One `file` part as it is; several, each a page image, bundled as one document."""
    files: list[bytes] = []
    for number, upload in enumerate(uploads, 1):
        part_type = media.declared_type(upload.content_type or "application/pdf")
        if part_type not in media.UPLOAD_TYPES:
            raise UnsupportedMediaTypeError(
                f"file part {number} is {part_type}, not application/pdf or a PNG, JPEG, TIFF or WebP image",
                reason="NOT_A_PDF",
                field="file",
            )
        files.append(await upload.read(limit + 1))
        if sum(map(len, files)) > limit:
            raise TooLargeError(f"the upload exceeds {limit} bytes", reason="PDF_TOO_LARGE", field="file")
    if len(files) == 1:
        return files[0]
    for number, data in enumerate(files, 1):
        if media.sniff(data) not in media.IMAGE_TYPES:
            raise InvalidArgumentError(
                f"file part {number} is not a PNG, JPEG, TIFF or WebP image; several files are read "
                "as the page images of one document",
                reason="NOT_AN_IMAGE",
                field="file",
            )
    return media.bundle(files)


class RestApi:
    def __init__(self, core: GatewayCore) -> None:
        self.core = core
        # Images decoded at once for PNG renditions: each may take max_image_pixels of memory.
        self.renditions = asyncio.Semaphore(2)

    def owner(self, request: Request) -> str:
        return self.core.auth.owner(request.headers.get("authorization"))

    async def create_job(self, request: Request) -> Response:
        owner = self.owner(request)
        limit = self.core.settings.max_pdf_bytes
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise TooLargeError(
                f"the upload is {declared} bytes; at most {limit} are accepted",
                reason="PDF_TOO_LARGE",
                field="file",
            )
        params: Any = request.query_params
        if content_type == "multipart/form-data":
            form = await self._form(request)
            uploads = [upload for upload in form.getlist("file") if isinstance(upload, UploadFile)]
            if not uploads:
                raise InvalidArgumentError(
                    "multipart upload without a `file` part", reason="NO_FILE", field="file"
                )
            pdf = await _uploaded(uploads, limit)
            file_name = str(form.get("file_name") or uploads[0].filename or "")
            params = {**dict(request.query_params), **{k: v for k, v in form.items() if isinstance(v, str)}}
        elif content_type in media.UPLOAD_TYPES:
            pdf = await self._read_body(request, limit)
            file_name = request.query_params.get("file_name", "")
        else:
            raise UnsupportedMediaTypeError(
                "send the PDF as application/pdf, a page image as image/png, image/jpeg, image/tiff or "
                f"image/webp, or either as multipart/form-data, not {content_type or 'nothing'}",
                reason="UNSUPPORTED_MEDIA_TYPE",
            )
        if len(pdf) > limit:
            raise TooLargeError(f"the PDF exceeds {limit} bytes", reason="PDF_TOO_LARGE", field="file")
        key = request.headers.get("idempotency-key") or str(params.get("idempotency_key") or "")
        view = await self.core.repo.create(
            owner, pdf, file_name=file_name, options=_options(params), idempotency_key=key
        )
        job = view.to_proto()
        if not view.replayed:
            log.info("job %s created", job.id, extra={"owner": owner, "bytes": len(pdf)})
        return JSONResponse(
            {"job": to_json(job)},
            status_code=200 if view.replayed else 201,
            headers={"location": f"/v1/jobs/{job.id}"},
        )

    @staticmethod
    async def _form(request: Request) -> FormData:
        parser = Rfc5987MultiPartParser(
            request.headers,
            request.stream(),
            max_files=MAX_FILES,
            max_fields=20,
            max_part_size=64 * 1024,
        )
        try:
            return await parser.parse()
        except MultiPartException as error:
            raise InvalidArgumentError(
                f"malformed multipart body: {error.message}", reason="BAD_MULTIPART", field="file"
            ) from error

    @staticmethod
    async def _read_body(request: Request, limit: int) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLargeError(f"the PDF exceeds {limit} bytes", reason="PDF_TOO_LARGE", field="body")
            chunks.append(chunk)
        return b"".join(chunks)

    async def get_job(self, request: Request) -> Response:
        view = await self.core.repo.get(self.owner(request), request.path_params["job_id"])
        return JSONResponse({"job": to_json(view.to_proto())})

    async def list_jobs(self, request: Request) -> Response:
        owner = self.owner(request)
        state_name = request.query_params.get("state", "").upper().removeprefix("JOB_STATE_")
        try:
            state = JobState(state_name) if state_name else None
        except ValueError as error:
            raise InvalidArgumentError(
                f"unknown state {state_name!r}", reason="BAD_STATE", field="state"
            ) from error
        views, token = await self.core.repo.list_jobs(
            owner,
            page_size=_int_param(request.query_params, "page_size"),
            page_token=request.query_params.get("page_token", ""),
            state=state,
        )
        return JSONResponse({"jobs": [to_json(v.to_proto()) for v in views], "next_page_token": token})

    async def cancel_job(self, request: Request) -> Response:
        reason = request.query_params.get("reason", "")
        view = await self.core.repo.cancel(self.owner(request), request.path_params["job_id"], reason)
        return JSONResponse({"job": to_json(view.to_proto())})

    async def job_events(self, request: Request) -> Response:
        owner = self.owner(request)
        job_id = request.path_params["job_id"]
        await self.core.repo.get(owner, job_id)  # 404 now, not inside an already-started stream
        resume = Cursor.parse(request.headers.get("last-event-id"))
        self.core.streams.acquire(owner, job_id)  # 429 now; released when the response ends
        stream = watch_job(
            self.core.repo,
            self.core.events,
            owner,
            job_id,
            poll_seconds=self.core.settings.watch_poll_seconds,
            resume=resume,
        )

        async def sse() -> AsyncIterator[str]:
            async for event in stream:
                data = json.dumps(to_json(event.response), separators=(",", ":"))
                yield f"id: {event.cursor}\nevent: {event.kind}\ndata: {data}\n\n"

        headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
        return _SlotResponse(
            sse(),
            media_type="text/event-stream",
            headers=headers,
            release=lambda: self.core.streams.release(owner, job_id),
        )

    async def job_score(self, request: Request) -> Response:
        owner = self.owner(request)
        job_id = request.path_params["job_id"]
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            raise InvalidArgumentError(
                f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}",
                reason="BAD_FORMAT",
                field="format",
            )
        content = await self.core.results.get(owner, job_id, fmt)
        name = f"{job_id}{SCORE_FORMATS[fmt].suffix}"
        headers = {"content-disposition": f'inline; filename="{name}"'}
        return Response(content.content, media_type=content.content_type, headers=headers)

    async def job_pdf(self, request: Request) -> Response:
        owner = self.owner(request)
        job_id = request.path_params["job_id"]
        pdf = await job_pdf(self.core.engine, self.core.store, owner, job_id)
        headers = {"content-disposition": f'inline; filename="{job_id}.pdf"', "cache-control": "private"}
        images = media.unbundle(pdf)  # several images: the first page's stands for the document
        original = images[0] if images else pdf
        return Response(original, media_type=media.sniff(original) or media.PDF, headers=headers)

    async def job_original(self, request: Request) -> Response:
        """The upload as stored, with its media type (several images: their ImageFiles bundle);
        `x-etude-original-files` says how many files it holds, `x-etude-original-kind` whether
        a viewer draws a PDF or images."""
        job_id = request.path_params["job_id"]
        original = await job_original(self.core.engine, self.core.store, self.owner(request), job_id)
        return Response(original.data, media_type=original.media_type, headers=_original_headers(original))

    async def job_original_file(self, request: Request) -> Response:
        """One uploaded file (0-based, in page order) with its own media type: a page image of
        an image job, or the PDF (file 0) of a PDF job; `?as=png&frame=K` one frame of an image
        as a PNG (browsers draw no TIFF). `x-etude-original-frames` says how many frames (pages)
        an image holds."""
        job_id = request.path_params["job_id"]
        frame = png_frame(request.query_params)
        original = await job_original(self.core.engine, self.core.store, self.owner(request), job_id)
        data = original.files[file_number(request.path_params["file_index"], len(original.files))]
        async with self.renditions:
            file = await original_file(data, frame, self.core.settings.max_image_pixels)
        headers = _original_headers(original)
        if file.frames is not None:
            headers["x-etude-original-frames"] = str(file.frames)
        return Response(file.data, media_type=file.media_type, headers=headers)

    async def page_score(self, request: Request) -> Response:
        owner = self.owner(request)
        job_id = request.path_params["job_id"]
        index = page_number(request.path_params["page_index"])
        fmt = request.query_params.get("format", "json")
        content = await page_score(self.core.engine, self.core.store, owner, job_id, index, fmt)
        return Response(content.content, media_type=content.content_type)

    async def config(self, request: Request) -> Response:
        # Unauthenticated on purpose: the page asks for a token only when one is required.
        return JSONResponse({"auth_required": self.core.auth.enabled})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def health(self, request: Request) -> Response:
        from sqlalchemy import text

        async with self.core.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})


def _original_headers(original: Original) -> dict[str, str]:
    return {
        "cache-control": "private",
        "x-content-type-options": "nosniff",
        "x-etude-original-files": str(len(original.files)),
        "x-etude-original-kind": original.kind,
    }


class _SlotResponse(StreamingResponse):
    """A stream that gives its slot back however it ends: finished, failed or disconnected
    (even a client gone before the first event, when the body generator never ran)."""

    def __init__(self, content: AsyncIterator[str], *, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


async def _gateway_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, GatewayError)
    extra = {"reason": error.reason} | ({"field": error.field} if error.field else {})
    headers = {"www-authenticate": "Bearer"} if error.http_status == 401 else None
    response = problem(error.http_status, error.title, error.message, **extra)
    if headers:
        response.headers.update(headers)
    return response


async def _store_down(request: Request, error: Exception) -> Response:
    return problem(503, "Service unavailable", f"object store unreachable: {error}", reason="STORE_DOWN")


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return problem(error.status_code, str(error.detail), str(error.detail))


async def _client_gone(request: Request, error: Exception) -> Response:
    # The client hung up mid-request: routine, nothing failed on our side; nobody reads the answer.
    log.info("client disconnected during %s %s", request.method, request.url.path)
    return problem(
        400, "Client disconnected", "the request ended before it was complete", reason="DISCONNECTED"
    )


async def _unexpected(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "the gateway failed; the error was logged")


async def _metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def build_rest_app(core: GatewayCore, *, static_dir: Path = STATIC) -> Starlette:
    api = RestApi(core)
    routes: list[Route | Mount] = [
        Route("/v1/jobs", api.create_job, methods=["POST"]),
        Route("/v1/jobs", api.list_jobs, methods=["GET"]),
        Route("/v1/jobs/{job_id}", api.get_job, methods=["GET"]),
        Route("/v1/jobs/{job_id}", api.cancel_job, methods=["DELETE"]),
        Route("/v1/jobs/{job_id}/events", api.job_events, methods=["GET"]),
        Route("/v1/jobs/{job_id}/score", api.job_score, methods=["GET"]),
        Route("/v1/jobs/{job_id}/pdf", api.job_pdf, methods=["GET"]),
        Route("/v1/jobs/{job_id}/original", api.job_original, methods=["GET"]),
        Route("/v1/jobs/{job_id}/original/{file_index}", api.job_original_file, methods=["GET"]),
        Route("/v1/jobs/{job_id}/pages/{page_index}/score", api.page_score, methods=["GET"]),
        Route("/v1/config", api.config, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
        Route("/healthz", api.health, methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
    ]
    if static_dir.is_dir():
        routes.append(Mount("/", app=StaticFiles(directory=static_dir, html=True), name="static"))
    return Starlette(
        routes=routes,
        # GZip leaves text/event-stream alone (Starlette's default exclusion), so events flow.
        middleware=[Middleware(RequestContextMiddleware), Middleware(GZipMiddleware, minimum_size=1024)],
        exception_handlers={
            GatewayError: _gateway_error,
            ObjectStoreUnavailableError: _store_down,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _unexpected,
        },
    )
