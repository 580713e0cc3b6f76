"""The database schema (SQLAlchemy Core). Alembic migrations in storage/migrations create it;
this module is what the code queries against."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Column as C
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on Postgres (timestamptz) and SQLite (naive text) alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


metadata = MetaData()

# Every stored object: PDFs, page fragments, scores, exports. Keys are content-addressed.
artifacts = Table(
    "artifacts",
    metadata,
    C("id", Integer, primary_key=True, autoincrement=True),
    C("kind", String(32), nullable=False),
    C("key", String(512), nullable=False, unique=True),
    C("sha256", String(64), nullable=False),
    C("size", BigInteger, nullable=False),
    C("content_type", String(128), nullable=False),
    C("create_time", UtcDateTime, nullable=False),
)

# The queue: one row per job, claimed by workers with leases.
jobs = Table(
    "jobs",
    metadata,
    C("id", String(32), primary_key=True),
    C("owner", String(256), nullable=False),
    C("idempotency_key", String(256), nullable=True),
    C("state", String(32), nullable=False),
    C("file_name", String(512), nullable=False, default=""),
    C("pdf_sha256", String(64), nullable=False),
    C("pdf_size", BigInteger, nullable=False),
    C("pdf_artifact_id", Integer, ForeignKey("artifacts.id"), nullable=False),
    C("options_json", Text, nullable=False),
    # Canonical form of the options, part of the results-cache key.
    C("options_key", String(256), nullable=False),
    # From the OMR server's header: pages in the document, pages this job reads, dpi used.
    C("page_count", Integer, nullable=False, default=0),
    C("pages_to_read", Integer, nullable=False, default=0),
    C("dpi", Integer, nullable=False, default=0),
    C("pages_done", Integer, nullable=False, default=0),
    C("attempts", Integer, nullable=False, default=0),
    C("next_attempt_time", UtcDateTime, nullable=False),
    C("lease_expire_time", UtcDateTime, nullable=True),
    C("worker_id", String(128), nullable=True),
    # Bumped on every claim; every write by a worker is fenced by it.
    C("lease_token", Integer, nullable=False, default=0),
    C("last_error", Text, nullable=False, default=""),
    C("cached", Boolean, nullable=False, default=False),
    # "name/version/sha256" of the model that produced the score; part of the results-cache key.
    C("model_key", String(256), nullable=True),
    C("model_json", Text, nullable=True),
    C("service_version", String(64), nullable=True),
    # From the OMR server's header: title, composer and tempo text the document states (IR
    # Metadata in its JSON mapping); null or {} when it states none.
    C("metadata_json", Text, nullable=True),
    C("score_artifact_id", Integer, ForeignKey("artifacts.id"), nullable=True),
    C("score_json_artifact_id", Integer, ForeignKey("artifacts.id"), nullable=True),
    C("create_time", UtcDateTime, nullable=False),
    C("update_time", UtcDateTime, nullable=False),
    UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
    Index("ix_jobs_queue", "state", "next_attempt_time"),
    Index("ix_jobs_owner", "owner", "id"),
    Index("ix_jobs_results_cache", "pdf_sha256", "options_key", "model_key", "state"),
)

job_transitions = Table(
    "job_transitions",
    metadata,
    C("id", Integer, primary_key=True, autoincrement=True),
    C("job_id", String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    C("from_state", String(32), nullable=False),
    C("to_state", String(32), nullable=False),
    C("time", UtcDateTime, nullable=False),
    C("reason", Text, nullable=False, default=""),
    Index("ix_job_transitions_job", "job_id", "id"),
)

# One row per stored page fragment; the primary key is what makes "every page exactly once" hold.
job_pages = Table(
    "job_pages",
    metadata,
    C("job_id", String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    C("page_index", Integer, nullable=False),
    C("artifact_id", Integer, ForeignKey("artifacts.id"), nullable=False),
    C("attempt", Integer, nullable=False),
    C("create_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("job_id", "page_index", name="pk_job_pages"),
)

# Which artifact was made from which (PDF → fragments → IR → exports), by what model and service.
artifact_lineage = Table(
    "artifact_lineage",
    metadata,
    C("id", Integer, primary_key=True, autoincrement=True),
    C("parent_id", Integer, ForeignKey("artifacts.id"), nullable=False),
    C("child_id", Integer, ForeignKey("artifacts.id"), nullable=False),
    C("job_id", String(32), nullable=True),
    C("relation", String(32), nullable=False),
    C("model_key", String(256), nullable=True),
    C("service_version", String(64), nullable=True),
    C("create_time", UtcDateTime, nullable=False),
    UniqueConstraint("parent_id", "child_id", "relation", name="uq_artifact_lineage_edge"),
    Index("ix_artifact_lineage_parent", "parent_id"),
)
