"""The last-resort handler of every gateway RPC: an exception no servicer mapped to a status is
logged with its detail and answered INTERNAL with the request id only. Without it grpc.aio
answers UNKNOWN "Unexpected <class>: <message>", which can carry paths, SQL and parameters."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from observability.grpc_handlers import wrap_handler
from observability.grpc_ids import REQUEST_ID_KEY
from observability.logs import REQUEST_ID, new_request_id

log = logging.getLogger(__name__)

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


async def _internal(context: Context, method: str) -> None:
    request_id = REQUEST_ID.get() or new_request_id()
    log.exception("unhandled error in %s (request id %s)", method, request_id)
    context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error; request id {request_id}")


def _guard_unary(behavior: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
    async def call(request: Any, context: Context) -> Any:
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:  # a status the servicer chose: pass it on
            raise
        except Exception:
            await _internal(context, method)

    return call


def _guard_stream(
    behavior: Callable[..., AsyncIterator[Any]], method: str
) -> Callable[..., AsyncIterator[Any]]:
    async def call(request: Any, context: Context) -> AsyncIterator[Any]:
        try:
            async for response in behavior(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception:
            await _internal(context, method)

    return call


class LastResortInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no types
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        return wrap_handler(
            handler,
            lambda behavior: _guard_unary(behavior, method),
            lambda behavior: _guard_stream(behavior, method),
        )
