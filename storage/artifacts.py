"""Blob first, row second: an object is written to the store before any row names it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.objects import ObjectStore, content_key, sha256_hex
from storage.tables import artifact_lineage, artifacts, utcnow


@dataclass(frozen=True)
class Blob:
    kind: str
    key: str
    sha256: str
    size: int
    content_type: str


async def put_blob(store: ObjectStore, kind: str, data: bytes, content_type: str, suffix: str = "") -> Blob:
    """Stores `data` under its content-addressed key (skipping the upload when already there)."""
    digest = sha256_hex(data)
    key = content_key(kind, digest, suffix)
    if not await store.exists(key):
        await store.put(key, data, content_type)
    return Blob(kind=kind, key=key, sha256=digest, size=len(data), content_type=content_type)


def _insert(connection: AsyncConnection):  # type: ignore[no-untyped-def]
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


async def record_artifact(connection: AsyncConnection, blob: Blob) -> int:
    """The artifact row for a stored blob, created if absent; returns its id."""
    insert = _insert(connection)(artifacts).values(
        kind=blob.kind,
        key=blob.key,
        sha256=blob.sha256,
        size=blob.size,
        content_type=blob.content_type,
        create_time=utcnow(),
    )
    await connection.execute(insert.on_conflict_do_nothing(index_elements=["key"]))
    found = await connection.scalar(select(artifacts.c.id).where(artifacts.c.key == blob.key))
    assert found is not None
    return int(found)


async def record_lineage(
    connection: AsyncConnection,
    parent_id: int,
    child_id: int,
    relation: str,
    *,
    job_id: str | None = None,
    model_key: str | None = None,
    service_version: str | None = None,
) -> None:
    insert = _insert(connection)(artifact_lineage).values(
        parent_id=parent_id,
        child_id=child_id,
        relation=relation,
        job_id=job_id,
        model_key=model_key,
        service_version=service_version,
        create_time=utcnow(),
    )
    await connection.execute(
        insert.on_conflict_do_nothing(index_elements=["parent_id", "child_id", "relation"])
    )
