"""Run the OMR gRPC server: OmrService, health, reflection, metrics, auth, graceful drain.

Health says NOT_SERVING until the model is loaded and one warm-up inference has run, and again
from the moment SIGTERM arrives; in-flight streams then get `drain_seconds` to finish.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from etude.omr.v1 import omr_service_pb2, omr_service_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from observability.grpc_ids import RequestIdInterceptor
from omr_server.pipeline import OmrEngine
from omr_server.service import OmrServicer, ServerState
from omr_server.settings import OmrSettings

log = logging.getLogger(__name__)

OMR_SERVICE = omr_service_pb2.DESCRIPTOR.services_by_name["OmrService"].full_name
_HEALTH_METHOD_PREFIX = "/grpc.health.v1.Health/"
_REFLECTION_METHOD_PREFIX = "/grpc.reflection."
# Gateways ping idle connections every 30 s; gRPC's defaults would answer that with GOAWAY
# too_many_pings after a few minutes. Connections are also recycled every 10 minutes (a document
# in flight gets 15 more, the gateway's deadline) so that gateways spread over new OMR pods.
SERVER_KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_connection_age_ms", 10 * 60 * 1000),
    ("grpc.max_connection_age_grace_ms", 15 * 60 * 1000),
)


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no types
    """Every call but health checks and reflection must send `authorization: Bearer <token>`."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if method.startswith((_HEALTH_METHOD_PREFIX, _REFLECTION_METHOD_PREFIX)):
            return await continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        given = metadata.get("authorization", "")
        given_bytes = given.encode() if isinstance(given, str) else bytes(given)
        if hmac.compare_digest(given_bytes, self._expected):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        return _deny(handler)


def _deny(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        yield  # pragma: no cover (makes this an async generator)

    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(
            stream, handler.request_deserializer, handler.response_serializer
        )
    return grpc.unary_unary_rpc_method_handler(
        unary, handler.request_deserializer, handler.response_serializer
    )


@dataclass
class OmrServerHandle:
    server: grpc.aio.Server
    state: ServerState
    health: health.aio.HealthServicer
    port: int
    host: str
    metrics_port: int | None = None
    _loading: asyncio.Task[None] | None = None
    _metrics_server: Any = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def wait_ready(self) -> None:
        """Wait for the model load and warm-up; re-raises what made it fail."""
        if self._loading is not None:
            await asyncio.shield(self._loading)

    async def stop(self, grace: float | None = None) -> None:
        """Flip health to NOT_SERVING, refuse new calls, let in-flight streams finish within `grace`."""
        self.state.draining = True
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace if grace is not None else self.state.settings.drain_seconds)
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)
        if self.state.engine is not None:
            await self.state.engine.close()
            self.state.engine = None
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()


async def _set_health(servicer: health.aio.HealthServicer, status: int) -> None:
    for service in ("", OMR_SERVICE):
        await servicer.set(service, status)


async def start_omr_server(settings: OmrSettings) -> OmrServerHandle:
    """Start serving at once (health NOT_SERVING) and load the model in the background.

    A missing model folder fails here, before the port opens; `handle.wait_ready()` reports any
    later load failure.
    """
    if not (settings.model_dir / "manifest.json").is_file():
        raise FileNotFoundError(
            f"no recognition model in {settings.model_dir} (manifest.json missing); "
            "set ETUDE_OMR_MODEL_DIR (or ETUDE_MODEL_DIR) to a model folder"
        )
    message_limit = settings.max_pdf_bytes + 1024 * 1024
    interceptors: list[grpc.aio.ServerInterceptor] = [RequestIdInterceptor()]
    if settings.auth_token:
        interceptors.append(BearerTokenInterceptor(settings.auth_token))
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", message_limit),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            *SERVER_KEEPALIVE_OPTIONS,
        ],
    )
    state = ServerState(settings)
    omr_service_pb2_grpc.add_OmrServiceServicer_to_server(OmrServicer(state), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await _set_health(health_servicer, health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection((OMR_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    await server.start()
    handle = OmrServerHandle(
        server=server, state=state, health=health_servicer, port=port, host=settings.host
    )
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        metrics_server, _ = start_http_server(settings.metrics_port, addr=settings.host)
        handle._metrics_server = metrics_server
        handle.metrics_port = metrics_server.server_port

    async def load() -> None:
        engine = await OmrEngine.load(settings)
        if state.draining:
            await engine.close()
            return
        state.engine = engine
        await _set_health(health_servicer, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "model %s %s loaded, providers %s",
            engine.model_info.name,
            engine.model_info.version,
            list(engine.recognizer.providers),
        )

    handle._loading = asyncio.create_task(load(), name="omr-model-load")
    return handle


async def serve(settings: OmrSettings) -> None:
    """Serve until SIGTERM or SIGINT, then drain in-flight streams and stop."""
    handle = await start_omr_server(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    log.info("OMR server listening on %s (metrics on port %s)", handle.address, handle.metrics_port)
    try:
        ready = asyncio.create_task(handle.wait_ready())
        stop_requested = asyncio.create_task(stopping.wait())
        done, _ = await asyncio.wait({ready, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
        if ready in done:
            ready.result()  # a model that fails to load ends the server with its error
        else:
            ready.cancel()
        await stopping.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await handle.stop()
