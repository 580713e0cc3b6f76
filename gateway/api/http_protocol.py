"""uvicorn's h11 protocol with a header read timeout.

uvicorn bounds the idle time between requests (`timeout_keep_alive`) but not the time a client
takes to send a request's headers: its keep-alive timer is cancelled by the first byte received,
and no timer runs on a fresh connection, so a client that sends half a request line holds its
connection (and a file descriptor) for as long as it likes. Here a timer starts when the
connection opens and again when each response completes; only a complete set of request
headers (a new request cycle) stops it, and when it fires the connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                log.info("closing a connection that sent no complete request headers in %.1f s", seconds)
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request's headers arrived in full
                self._disarm()

        def on_response_complete(self) -> None:
            # Armed first: the base class may go on to a pipelined request, whose headers then
            # disarm it in handle_events.
            self._arm()
            super().on_response_complete()

    return HeaderTimeoutH11Protocol
