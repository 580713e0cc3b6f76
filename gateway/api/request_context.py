"""ASGI middleware: a request id per REST request (X-Request-ID in and out, bound for the logs)
and the request latency histogram by route template and status."""

from __future__ import annotations

import time

from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.metrics import HTTP_SECONDS
from observability.logs import bind, request_id_from

HEADER = b"x-request-id"


def _route_template(scope: Scope) -> str:
    """`/v1/jobs/{job_id}`, not the path itself (bounded label values); "static" for files."""
    route = scope.get("route")
    if isinstance(route, Route):
        return route.path
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        if isinstance(candidate, Route) and candidate.matches(scope)[0] == Match.FULL:
            return candidate.path
    return "static" if scope.get("endpoint") is not None else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER)
        request_id = request_id_from(given)
        # Each request runs in a task of its own: the id stays bound for the error handlers too.
        bind(request_id=request_id)
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            HTTP_SECONDS.labels(scope["method"], _route_template(scope), str(status)).observe(
                time.perf_counter() - started
            )
