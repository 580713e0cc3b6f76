"""Real gRPC over loopback: an OMR server with the committed model, and channels to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from omr_server.server import OmrServerHandle, start_omr_server
from omr_server.settings import OmrSettings

MODEL_DIR = OmrSettings().model_dir
HAS_MODEL = (MODEL_DIR / "manifest.json").is_file()
requires_model = pytest.mark.skipif(not HAS_MODEL, reason=f"no recognition model in {MODEL_DIR}")


def server_settings(**overrides: object) -> OmrSettings:
    values: dict[str, object] = {
        "port": 0,
        "metrics_port": 0,
        "model_dir": MODEL_DIR,
        "max_pages": 20,
        "max_pdf_bytes": 5_000_000,
        "drain_seconds": 5.0,
    }
    values.update(overrides)
    return OmrSettings(**values)  # type: ignore[arg-type]


async def started(settings: OmrSettings) -> OmrServerHandle:
    handle = await start_omr_server(settings)
    await handle.wait_ready()
    return handle


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def omr_server() -> AsyncIterator[OmrServerHandle]:
    handle = await started(server_settings())
    yield handle
    await handle.stop(0)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def channel(omr_server: OmrServerHandle) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(
        omr_server.address, options=[("grpc.max_send_message_length", 20_000_000)]
    ) as opened:
        yield opened
