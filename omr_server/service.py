"""The etude.omr.v1.OmrService servicer: streams a document's pages as they are recognised."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import grpc
from etude.omr.v1 import omr_service_pb2, omr_service_pb2_grpc
from google.protobuf import any_pb2, message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from omr_server import metrics
from omr_server.errors import Busy, InvalidInput, LimitExceeded, NotFound, NotReady, OmrError, busy, invalid
from omr_server.objects import read_object
from omr_server.pipeline import SERVICE_VERSION, DocumentRequest, OmrEngine
from omr_server.settings import OmrSettings

log = logging.getLogger(__name__)

ERROR_DOMAIN = "omr.etude"
# The domain errors (errors.py) as gRPC codes; anything else is INTERNAL.
_CODES: dict[type[OmrError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    LimitExceeded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Busy: grpc.StatusCode.RESOURCE_EXHAUSTED,
    NotReady: grpc.StatusCode.UNAVAILABLE,
    NotFound: grpc.StatusCode.NOT_FOUND,
}


def grpc_code(error: OmrError) -> grpc.StatusCode:
    for kind in type(error).__mro__:
        if kind in _CODES:
            return _CODES[kind]
    return grpc.StatusCode.INTERNAL


def to_status(error: OmrError) -> status_pb2.Status:
    """The google.rpc.Status of `error`: ErrorInfo (reason, metadata) and, when a request field is
    at fault, BadRequest naming it (which is how a client tells an input limit from load)."""
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)
    details = [_pack(info)]
    if error.field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message)
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    code = getattr(code_pb2, grpc_code(error).name)
    return status_pb2.Status(code=code, message=error.message, details=details)


def _pack(detail: message.Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


class ServerState:
    """What the servicer shares with the server: the engine once loaded, and the load."""

    def __init__(self, settings: OmrSettings) -> None:
        self.settings = settings
        self.engine: OmrEngine | None = None
        self.in_flight = 0
        self.draining = False


class _Outcome:
    """What the end-of-request log line reports; a stream cut short by the client stays CANCELLED."""

    def __init__(self) -> None:
        self.code = "CANCELLED"
        self.pages_to_read = 0
        self.pages = 0


async def _abort(context: grpc.aio.ServicerContext, error: OmrError, outcome: _Outcome | None = None) -> None:
    code = grpc_code(error).name
    if outcome is not None:
        outcome.code = code
    metrics.ERRORS.labels(error.reason).inc()
    metrics.REQUESTS.labels(code).inc()
    await context.abort_with_status(rpc_status.to_status(to_status(error)))


def _unavailable(message: str) -> NotReady:
    return NotReady("NOT_READY", message)


class OmrServicer(omr_service_pb2_grpc.OmrServiceServicer):
    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def RecognizeDocument(
        self, request: omr_service_pb2.RecognizeDocumentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[omr_service_pb2.RecognizeDocumentResponse]:
        started = time.perf_counter()
        outcome = _Outcome()
        log.info(
            "RecognizeDocument started",
            extra={"source": request.WhichOneof("source"), "file_name": request.file_name},
        )
        try:
            async for event in self._recognize(request, context, outcome):
                kind = event.WhichOneof("event")
                if kind == "header":
                    outcome.pages_to_read = event.header.pages_to_read
                elif kind == "page":
                    outcome.pages += 1
                yield event
        finally:
            elapsed = time.perf_counter() - started
            metrics.REQUEST_SECONDS.labels(outcome.code).observe(elapsed)
            log.info(
                "RecognizeDocument ended",
                extra={
                    "status": outcome.code,
                    "pages_to_read": outcome.pages_to_read,
                    "pages": outcome.pages,
                    "elapsed_s": round(elapsed, 3),
                },
            )

    async def _recognize(
        self,
        request: omr_service_pb2.RecognizeDocumentRequest,
        context: grpc.aio.ServicerContext,
        outcome: _Outcome,
    ) -> AsyncIterator[omr_service_pb2.RecognizeDocumentResponse]:
        state = self.state
        if state.engine is None or state.draining:
            await _abort(
                context,
                _unavailable("the OMR server is not ready (loading its model or shutting down)"),
                outcome,
            )
            return
        if state.in_flight >= state.settings.max_concurrent_requests:
            await _abort(
                context,
                busy(
                    "TOO_MANY_REQUESTS",
                    f"the server is reading {state.in_flight} documents already "
                    f"(limit {state.settings.max_concurrent_requests}); retry later",
                ),
                outcome,
            )
            return
        state.in_flight += 1
        metrics.IN_FLIGHT.inc()
        try:
            source = request.WhichOneof("source")
            if source == "object":
                pdf = read_object(request.object.uri, request.object.sha256, state.settings.file_root)
            else:
                pdf = request.pdf_data
            document = DocumentRequest(
                pdf=pdf,
                dpi=request.options.dpi,
                first_page=request.options.first_page,
                page_limit=request.options.page_limit,
                file_name=request.file_name,
                media_type=request.media_type,
                images=tuple(request.images.files),
            )
            if source == "images" and not document.images:
                raise invalid("EMPTY_INPUT", "the request's `images` holds no file", field="images")
            async for event in state.engine.run(document):
                yield event
            metrics.REQUESTS.labels("OK").inc()
            outcome.code = "OK"
        except OmrError as error:
            if grpc_code(error) == grpc.StatusCode.INTERNAL:
                log.error("RecognizeDocument failed: %s", error)
            await _abort(context, error, outcome)
        except Exception:  # a bug or a model failure: logged here, one clear status for the client
            log.exception("RecognizeDocument failed")
            await _abort(
                context,
                OmrError("INTERNAL", "the OMR server failed while reading the document"),
                outcome,
            )
        finally:
            state.in_flight -= 1
            metrics.IN_FLIGHT.dec()

    async def GetServiceInfo(
        self, request: omr_service_pb2.GetServiceInfoRequest, context: grpc.aio.ServicerContext
    ) -> omr_service_pb2.GetServiceInfoResponse:
        engine = self.state.engine
        if engine is None:
            await _abort(context, _unavailable("the OMR server is still loading its model"))
            raise AssertionError("unreachable")  # abort raises
        settings = self.state.settings
        manifest = getattr(engine.recognizer, "manifest", None)
        vocabulary = getattr(manifest, "vocabulary", None) or []
        return omr_service_pb2.GetServiceInfoResponse(
            service_version=SERVICE_VERSION,
            model=engine.model_info,
            providers=list(engine.recognizer.providers),
            batching=omr_service_pb2.BatchingInfo(
                max_batch_size=settings.max_batch_size,
                max_queue_delay_ms=settings.max_queue_delay_ms,
                max_queued_staves=settings.max_queued_staves,
            ),
            default_dpi=settings.default_dpi,
            max_pages=settings.max_pages,
            max_pdf_bytes=settings.max_pdf_bytes,
            model_input_height=engine.recognizer.input_height,
            vocabulary_size=len(vocabulary),
        )
