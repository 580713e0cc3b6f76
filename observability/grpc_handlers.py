"""Wrap the behaviour of a grpc.aio method handler, whatever its streaming kind.

Server interceptors that run code around every call (bind log ids, answer unhandled errors)
wrap the handler's behaviour and rebuild a handler of the same kind with the same
(de)serialisers. grpc spells the four kinds out one by one; this does it once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

UnaryBehavior = Callable[..., Awaitable[Any]]  # (request or request iterator, context) -> response
StreamingBehavior = Callable[..., AsyncIterator[Any]]  # ... -> async iterator of responses

_KINDS = {
    (False, False): (grpc.unary_unary_rpc_method_handler, "unary_unary"),
    (False, True): (grpc.unary_stream_rpc_method_handler, "unary_stream"),
    (True, False): (grpc.stream_unary_rpc_method_handler, "stream_unary"),
    (True, True): (grpc.stream_stream_rpc_method_handler, "stream_stream"),
}


def wrap_handler(
    handler: grpc.RpcMethodHandler,
    unary: Callable[[UnaryBehavior], UnaryBehavior],
    streaming: Callable[[StreamingBehavior], StreamingBehavior],
) -> grpc.RpcMethodHandler:
    """`handler` with its behaviour wrapped by `unary` (single response) or `streaming`
    (response stream); a handler without behaviour is returned as it is."""
    make, attribute = _KINDS[(handler.request_streaming, handler.response_streaming)]
    behavior = getattr(handler, attribute)
    if behavior is None:
        return handler
    wrapped = streaming(behavior) if handler.response_streaming else unary(behavior)
    return make(wrapped, handler.request_deserializer, handler.response_serializer)  # type: ignore[operator]
