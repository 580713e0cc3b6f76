"""`python -m gateway`: the gateway alone, configured from ETUDE_GATEWAY_* (as `etude serve gateway`)."""

from __future__ import annotations

import asyncio

from gateway.server import serve
from gateway.settings import GatewaySettings

if __name__ == "__main__":
    asyncio.run(serve(GatewaySettings()))
