"""Fixtures shared across test folders: one Postgres server per session, and a database URL
per test for each engine the storage layer supports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

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
