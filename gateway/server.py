"""One gateway process: gRPC JobService (+ health, reflection), the REST app (uvicorn) and the
job workers, all on one event loop, sharing one database and object store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import uvicorn
from etude.jobs.v1 import job_service_pb2, job_service_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.api.grpc_guard import LastResortInterceptor
from gateway.api.grpc_service import JobService
from gateway.api.http_protocol import header_timeout_protocol
from gateway.api.rest import build_rest_app
from gateway.core import GatewayCore
from gateway.jobs.worker import Worker
from gateway.settings import GatewaySettings
from observability.grpc_ids import RequestIdInterceptor
from observability.logs import configure_logging

log = logging.getLogger(__name__)
SERVICE_NAME = job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the gateway decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class GatewayHandle:
    core: GatewayCore
    grpc_port: int
    http_port: int
    _grpc: grpc.aio.Server
    _http: _EmbeddedUvicorn
    _http_task: asyncio.Task[None]
    _health: health.aio.HealthServicer
    _stop_workers: asyncio.Event
    _workers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def grpc_address(self) -> str:
        return f"{self.core.settings.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.core.settings.host}:{self.http_port}"

    async def stop(self, grace: float = 5.0) -> None:
        """Workers hand their jobs back to the queue, servers drain for `grace` seconds."""
        await self._health.enter_graceful_shutdown()
        self._stop_workers.set()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._http.should_exit = True
        await asyncio.gather(self._grpc.stop(grace), self._http_task, return_exceptions=True)
        await self.core.close()

    async def kill(self) -> None:
        """Stops without handing anything back, as a crash would (tests of lease takeover)."""
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._http.should_exit = True
        self._http.force_exit = True
        await asyncio.gather(self._grpc.stop(0), self._http_task, return_exceptions=True)
        await self.core.close()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def start_gateway(settings: GatewaySettings, *, crash_on_stop: bool = False) -> GatewayHandle:
    core = await GatewayCore.open(settings)
    if not core.auth.enabled:
        log.warning("no ETUDE_GATEWAY_TOKENS: authentication is off, every caller is owner 'local'")

    server = grpc.aio.server(
        # Outermost first: the request id is bound before the last-resort handler may need it.
        interceptors=[RequestIdInterceptor(), LastResortInterceptor()],
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", 8 * 1024 * 1024),
            # Clients may keep idle connections alive with pings every 10 s or more.
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),
        ],
    )
    job_service_pb2_grpc.add_JobServiceServicer_to_server(JobService(core), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    grpc_port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    await server.start()

    sock = _bind(settings.host, settings.http_port)
    http_port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        build_rest_app(core),
        log_level="warning",
        lifespan="off",
        http=header_timeout_protocol(settings.header_timeout_seconds),
        timeout_graceful_shutdown=5,
        proxy_headers=False,
    )
    http = _EmbeddedUvicorn(config)
    http_task = asyncio.create_task(http.serve(sockets=[sock]))
    while not http.started:
        if http_task.done():
            await http_task
            raise RuntimeError("the HTTP server stopped while starting")
        await asyncio.sleep(0.01)

    stop_workers = asyncio.Event()
    handle = GatewayHandle(core, grpc_port, http_port, server, http, http_task, health_servicer, stop_workers)
    for n in range(settings.workers):
        worker = Worker(
            core.queue, core.store, core.omr, core.events, settings, name=f"{settings.worker_id}-{n}"
        )
        handle._workers.append(asyncio.create_task(worker.run(stop_workers), name=worker.worker_id))
    for name in (SERVICE_NAME, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "gateway: gRPC on %s:%d, HTTP on %s:%d, %d workers, OMR at %s",
        settings.host,
        grpc_port,
        settings.host,
        http_port,
        settings.workers,
        settings.omr_address,
    )
    return handle


async def serve(settings: GatewaySettings) -> None:
    """Runs until SIGTERM or SIGINT, then drains (jobs in progress go back to the queue)."""
    if not logging.getLogger().handlers:  # `etude serve` configured them already
        configure_logging()
    handle = await start_gateway(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"gateway: gRPC {handle.grpc_address}, HTTP {handle.http_url}", flush=True)
    await stop.wait()
    log.info("gateway: stopping")
    await handle.stop(grace=10.0)
