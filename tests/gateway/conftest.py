from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.server import GatewayHandle, start_gateway
from gateway.settings import GatewaySettings
from storage.database import create_engine, migrate
from tests.storage.fixtures import free_port, fresh_postgres_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def postgres_url(pg_server: tuple[str, int]) -> AsyncIterator[str]:
    async with fresh_postgres_database(*pg_server) as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()


class OmrProcess:
    """The OMR test double in a subprocess on a fixed loopback port (so it can be restarted)."""

    def __init__(self, port: int, page_delay: float, log: Path) -> None:
        self.port = port
        self.page_delay = page_delay
        self.log = log
        self.process: subprocess.Popen[str] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.gateway.omr_double",
                "--port",
                str(self.port),
                "--page-delay",
                str(self.page_delay),
                "--log",
                str(self.log),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "ready", f"OMR double did not start: {line!r}"

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def requests(self) -> list[dict[str, int]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def omr(tmp_path: Path) -> Iterator[OmrProcess]:
    process = OmrProcess(free_port(), page_delay=0.05, log=tmp_path / "omr-requests.jsonl")
    process.start()
    yield process
    process.kill()


def gateway_settings(
    database_url: str, objects: str, omr_address: str, **overrides: object
) -> GatewaySettings:
    """Settings for a test gateway: ephemeral ports, two owners, short leases and backoffs."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "grpc_port": 0,
        "http_port": 0,
        "database_url": database_url,
        "object_store_url": objects,
        "omr_address": omr_address,
        "tokens": {"token-alice": "alice", "token-bob": "bob"},
        "workers": 1,
        "lease_seconds": 5.0,
        "poll_seconds": 0.1,
        "watch_poll_seconds": 0.1,
        "omr_backoff_initial_seconds": 0.1,
        "omr_backoff_max_seconds": 0.5,
        "omr_retries": 30,
        "retry_delay_seconds": 0.2,
        "store_retry_seconds": 30.0,
        "omr_info_deadline_seconds": 3.0,
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


def real_model_missing() -> str | None:
    """Why the real OMR server cannot run here (None when it can): its tests skip with this."""
    try:
        from omr_server.server import start_omr_server  # noqa: F401
        from recognition.manifest import default_model_dir
    except ImportError as error:
        return f"the OMR server is not importable: {error}"
    if not (default_model_dir() / "manifest.json").is_file():
        return f"no trained model in {default_model_dir()} (manifest.json missing)"
    return None


@contextlib.asynccontextmanager
async def gateway_with_real_omr(tmp_path: Path) -> AsyncIterator[GatewayHandle]:
    """A gateway (SQLite, a local object folder) in front of the real OMR server, both in-process
    on loopback, with the installed model."""
    from omr_server.server import start_omr_server
    from omr_server.settings import OmrSettings

    omr = await start_omr_server(OmrSettings(port=0, metrics_port=None))
    url = f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}"
    try:
        handle = await start_gateway(
            gateway_settings(url, str(tmp_path / "objects"), omr.address, omr_deadline_seconds=300.0)
        )
        try:
            yield handle
        finally:
            await handle.stop(grace=1)
    finally:
        await omr.stop(grace=1)


ALICE = (("authorization", "Bearer token-alice"),)
BOB = (("authorization", "Bearer token-bob"),)


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 30.0, every: float = 0.05
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)
