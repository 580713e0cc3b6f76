"""Initial schema: artifacts, jobs, job transitions, job pages, artifact lineage.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(512), nullable=False, unique=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("idempotency_key", sa.String(256), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("file_name", sa.String(512), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("pdf_size", sa.BigInteger, nullable=False),
        sa.Column("pdf_artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
        sa.Column("options_key", sa.String(256), nullable=False),
        sa.Column("page_count", sa.Integer, nullable=False),
        sa.Column("pages_to_read", sa.Integer, nullable=False),
        sa.Column("dpi", sa.Integer, nullable=False),
        sa.Column("pages_done", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_time", UtcDateTime, nullable=False),
        sa.Column("lease_expire_time", UtcDateTime, nullable=True),
        sa.Column("worker_id", sa.String(128), nullable=True),
        sa.Column("lease_token", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("model_key", sa.String(256), nullable=True),
        sa.Column("model_json", sa.Text, nullable=True),
        sa.Column("service_version", sa.String(64), nullable=True),
        sa.Column("score_artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=True),
        sa.Column("score_json_artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=True),
        sa.Column("create_time", UtcDateTime, nullable=False),
        sa.Column("update_time", UtcDateTime, nullable=False),
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
    )
    op.create_index("ix_jobs_queue", "jobs", ["state", "next_attempt_time"])
    op.create_index("ix_jobs_owner", "jobs", ["owner", "id"])
    op.create_index("ix_jobs_results_cache", "jobs", ["pdf_sha256", "options_key", "model_key", "state"])
    op.create_table(
        "job_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=False),
        sa.Column("to_state", sa.String(32), nullable=False),
        sa.Column("time", UtcDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_job_transitions_job", "job_transitions", ["job_id", "id"])
    op.create_table(
        "job_pages",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("page_index", sa.Integer, nullable=False),
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("create_time", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("job_id", "page_index", name="pk_job_pages"),
    )
    op.create_table(
        "artifact_lineage",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("child_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("relation", sa.String(32), nullable=False),
        sa.Column("model_key", sa.String(256), nullable=True),
        sa.Column("service_version", sa.String(64), nullable=True),
        sa.Column("create_time", UtcDateTime, nullable=False),
        sa.UniqueConstraint("parent_id", "child_id", "relation", name="uq_artifact_lineage_edge"),
    )
    op.create_index("ix_artifact_lineage_parent", "artifact_lineage", ["parent_id"])


def downgrade() -> None:
    op.drop_table("artifact_lineage")
    op.drop_table("job_pages")
    op.drop_table("job_transitions")
    op.drop_table("jobs")
    op.drop_table("artifacts")
