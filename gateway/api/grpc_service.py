"""gRPC JobService: the same operations as REST, with google.rpc error details."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from etude.ir.v1 import score_pb2
from etude.jobs.v1 import job_service_pb2 as jobs_pb2
from etude.jobs.v1 import job_service_pb2_grpc as jobs_grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway import media
from gateway.api.watch import watch_job
from gateway.core import GatewayCore
from gateway.errors import GatewayError, InvalidArgumentError, TooLargeError, UnavailableError
from gateway.jobs.records import JobState
from gateway.jobs.results import FORMAT_NAMES
from storage.objects import ObjectStoreUnavailableError

ERROR_DOMAIN = "gateway.etude"
T = TypeVar("T")


def to_status(error: GatewayError) -> grpc.Status:
    details = [any_pb2.Any()]
    details[0].Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
    if error.field:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message)
            ]
        )
        details.append(any_pb2.Any())
        details[-1].Pack(bad)
    code = getattr(code_pb2, error.grpc_code.name)
    return rpc_status.to_status(status_pb2.Status(code=code, message=error.message, details=details))


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: GatewayError) -> None:
    status = to_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)


def _rpc(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Authenticates the caller (passed on as `owner`) and turns GatewayErrors into statuses."""

    @functools.wraps(method)
    async def wrapper(self: JobService, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> T:
        try:
            owner = self.core.auth.owner(_authorization(context))
            return await method(self, request, context, owner)
        except GatewayError as error:
            await _abort(context, error)
            raise AssertionError("abort raises") from error
        except ObjectStoreUnavailableError as error:
            await _abort(context, UnavailableError(f"object store unreachable: {error}", reason="STORE_DOWN"))
            raise AssertionError("abort raises") from error

    return wrapper


def _authorization(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode()
    return None


class JobService(jobs_grpc.JobServiceServicer):
    def __init__(self, core: GatewayCore) -> None:
        self.core = core

    @_rpc
    async def CreateJob(
        self, request_iterator: AsyncIterator[jobs_pb2.CreateJobRequest], context: Any, owner: str
    ) -> jobs_pb2.CreateJobResponse:
        limit = self.core.settings.max_pdf_bytes
        metadata: jobs_pb2.CreateJobMetadata | None = None
        chunks: list[bytes] = []
        size = 0
        async for message in request_iterator:
            kind = message.WhichOneof("payload")
            if metadata is None:
                if kind != "metadata":
                    raise InvalidArgumentError(
                        "the first message must carry metadata", reason="NO_METADATA", field="metadata"
                    )
                metadata = message.metadata
            elif kind == "chunk":
                if metadata.HasField("object"):
                    raise InvalidArgumentError(
                        "send either an object reference or chunks, not both",
                        reason="OBJECT_AND_CHUNKS",
                        field="chunk",
                    )
                size += len(message.chunk)
                if size > limit:
                    raise TooLargeError(
                        f"the PDF exceeds {limit} bytes", reason="PDF_TOO_LARGE", field="chunk"
                    )
                chunks.append(message.chunk)
            else:
                raise InvalidArgumentError(
                    "metadata may be sent once only", reason="METADATA_TWICE", field="metadata"
                )
        if metadata is None:
            raise InvalidArgumentError(
                "no metadata and no PDF were sent", reason="NO_METADATA", field="metadata"
            )
        declared = media.declared_type(metadata.media_type)
        if declared and declared not in media.UPLOAD_TYPES and declared != media.BUNDLE_TYPE:
            raise InvalidArgumentError(
                f"media_type {metadata.media_type!r} is not read here; send application/pdf or "
                + ", ".join(media.IMAGE_TYPES),
                reason="UNSUPPORTED_MEDIA_TYPE",
                field="metadata.media_type",
            )
        if metadata.HasField("object"):
            view = await self.core.repo.create_from_object(
                owner,
                metadata.object.uri,
                sha256=metadata.object.sha256,
                file_name=metadata.file_name,
                options=metadata.options,
                idempotency_key=metadata.idempotency_key,
            )
        else:
            view = await self.core.repo.create(
                owner,
                b"".join(chunks),
                file_name=metadata.file_name,
                options=metadata.options,
                idempotency_key=metadata.idempotency_key,
            )
        return jobs_pb2.CreateJobResponse(job=view.to_proto())

    @_rpc
    async def GetJob(
        self, request: jobs_pb2.GetJobRequest, context: Any, owner: str
    ) -> jobs_pb2.GetJobResponse:
        return jobs_pb2.GetJobResponse(job=(await self.core.repo.get(owner, request.job_id)).to_proto())

    @_rpc
    async def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: Any, owner: str
    ) -> jobs_pb2.ListJobsResponse:
        if request.state not in jobs_pb2.JobState.values():  # proto3 enums are open: any int arrives
            raise InvalidArgumentError(f"unknown state {request.state}", reason="BAD_STATE", field="state")
        views, token = await self.core.repo.list_jobs(
            owner,
            page_size=request.page_size,
            page_token=request.page_token,
            state=JobState.from_proto(request.state),
        )
        return jobs_pb2.ListJobsResponse(jobs=[v.to_proto() for v in views], next_page_token=token)

    async def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[jobs_pb2.WatchJobResponse]:
        try:
            owner = self.core.auth.owner(_authorization(context))
            await self.core.repo.get(owner, request.job_id)  # a slot only for a job one may watch
            with self.core.streams.slot(owner, request.job_id):
                stream = watch_job(
                    self.core.repo,
                    self.core.events,
                    owner,
                    request.job_id,
                    poll_seconds=self.core.settings.watch_poll_seconds,
                )
                async for event in stream:
                    yield event.response
        except GatewayError as error:
            await _abort(context, error)

    @_rpc
    async def CancelJob(
        self, request: jobs_pb2.CancelJobRequest, context: Any, owner: str
    ) -> jobs_pb2.CancelJobResponse:
        view = await self.core.repo.cancel(owner, request.job_id, request.reason)
        return jobs_pb2.CancelJobResponse(job=view.to_proto())

    @_rpc
    async def GetScore(
        self, request: jobs_pb2.GetScoreRequest, context: Any, owner: str
    ) -> jobs_pb2.GetScoreResponse:
        fmt = request.format or jobs_pb2.SCORE_FORMAT_IR_PROTO
        name = FORMAT_NAMES.get(fmt)
        if name is None:
            raise InvalidArgumentError(f"unknown score format {fmt}", reason="BAD_FORMAT", field="format")
        content = await self.core.results.get(owner, request.job_id, name)
        response = jobs_pb2.GetScoreResponse(
            format=fmt, content_type=content.content_type, content=content.content
        )
        if fmt == jobs_pb2.SCORE_FORMAT_IR_PROTO:
            response.score.CopyFrom(score_pb2.Score.FromString(content.content))
        return response
