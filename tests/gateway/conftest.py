from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine, migrate
from tests.storage.fixtures import fresh_postgres_database, postgres_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[tuple[str, int]]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'etude.db'}"
        return
    host, port = request.getfixturevalue("pg_server")
    async with fresh_postgres_database(host, port) as url:
        yield url


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
