"""A gRPC server interceptor that runs every call with a request id bound for its logs.

grpc.aio serves each call in a task of its own, so the ids are set for that task only.

The id comes from the caller's `x-request-id` metadata when it sends a sane one, else a new one;
`x-job-id` (sent by the gateway's workers) binds the job id too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from observability.grpc_handlers import wrap_handler
from observability.logs import bind, request_id_from

REQUEST_ID_KEY = "x-request-id"
JOB_ID_KEY = "x-job-id"


def call_ids(metadata: Any) -> dict[str, str]:
    """`bound()` arguments for a call's invocation metadata."""
    values = dict(metadata or ())
    ids = {"request_id": request_id_from(values.get(REQUEST_ID_KEY))}
    job = values.get(JOB_ID_KEY)
    if job:
        ids["job_id"] = request_id_from(job)
    return ids


class RequestIdInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        ids = call_ids(handler_call_details.invocation_metadata)
        return _with_ids(handler, ids)


def _with_ids(handler: grpc.RpcMethodHandler, ids: dict[str, str]) -> grpc.RpcMethodHandler:
    def unary_response(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            bind(**ids)
            return await behavior(request, context)

        return call

    def streaming_response(behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            bind(**ids)
            async for response in behavior(request, context):
                yield response

        return call

    return wrap_handler(handler, unary_response, streaming_response)
