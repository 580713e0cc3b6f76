"""Migrations and artifact rows on both databases."""

from __future__ import annotations

from sqlalchemy import func, inspect, select

from storage.artifacts import Blob, record_artifact, record_lineage
from storage.database import create_engine, migrate, normalise_url
from storage.tables import artifact_lineage


def test_normalise_url_picks_async_drivers() -> None:
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+asyncpg://")
    assert normalise_url("sqlite:///x.db").startswith("sqlite+aiosqlite://")


async def test_migrate_creates_schema_and_is_idempotent(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        await migrate(engine)  # a second start-up finds the schema current
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"jobs", "job_transitions", "job_pages", "artifacts", "artifact_lineage"} <= names
    finally:
        await engine.dispose()


async def test_artifact_rows_are_deduplicated_by_key(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        pdf = Blob("pdf", "pdf/ab/ab.pdf", "ab" * 32, 10, "application/pdf")
        fragment = Blob("fragment", "fragment/cd/cd.pb", "cd" * 32, 5, "application/x-protobuf")
        async with engine.begin() as connection:
            first = await record_artifact(connection, pdf)
            again = await record_artifact(connection, pdf)
            child = await record_artifact(connection, fragment)
            await record_lineage(connection, first, child, "page_of", job_id="j1", model_key="m/1/x")
            await record_lineage(connection, first, child, "page_of", job_id="j1", model_key="m/1/x")
            edges = await connection.scalar(select(func.count()).select_from(artifact_lineage))
        assert first == again != child
        assert edges == 1
    finally:
        await engine.dispose()
