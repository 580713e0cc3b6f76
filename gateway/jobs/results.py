"""What a job produces: the assembled score (stored as protobuf binary and JSON before the job
completes) and, on request, exports cached as artifacts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from etude.ir.v1 import score_pb2
from etude.jobs.v1 import job_service_pb2 as jobs_pb2
from etude.omr.v1 import omr_service_pb2 as omr_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import ConflictError, InvalidArgumentError, NotFoundError
from gateway.jobs.records import JobState, options_from_json
from gateway.validation import check_job_id
from ir.export import FORMATS as SCORE_FORMATS
from ir.json_io import to_json_bytes
from storage.artifacts import Blob, put_blob, record_artifact, record_lineage
from storage.objects import ObjectStore
from storage.tables import artifact_lineage, artifacts, jobs

# Everything about formats derives from ir's registry: names, MIME types, suffixes, gRPC values.
PROTO_TYPE = SCORE_FORMATS["pb"].content_type
JSON_TYPE = SCORE_FORMATS["json"].content_type

# REST names and gRPC enum values of the formats a score can be fetched in.
FORMATS: dict[str, jobs_pb2.ScoreFormat.ValueType] = {
    f.name: jobs_pb2.ScoreFormat.Value(f"SCORE_FORMAT_{f.grpc_name}") for f in SCORE_FORMATS.values()
}
FORMAT_NAMES = {value: name for name, value in FORMATS.items()}
score_to_json = to_json_bytes  # the worker stores the score in ir's one JSON mapping


def assemble(fragments: Sequence[score_pb2.PageFragment], job: dict[str, Any]) -> score_pb2.Score:
    """Stitches the stored fragments into one validated Score (raises InvalidScoreError). The
    header is rebuilt from the job's columns, as the OMR server sent it: model, dpi, and what
    the document states of itself (title, composer, tempo text), so that the score, its JSON and
    every export say what `etude transcribe` says of the same PDF."""
    from ir.assemble import score_from_document

    header = omr_pb2.DocumentHeader(
        page_count=job["page_count"],
        pdf_sha256=job["pdf_sha256"],
        dpi=job["dpi"],
        model=score_pb2.ModelInfo(**json.loads(job["model_json"] or "{}")),
        service_version=job["service_version"] or "",
    )
    stated = json.loads(job.get("metadata_json") or "{}")
    if stated:
        header.metadata.CopyFrom(score_pb2.Metadata(**stated))
    options = options_from_json(job["options_json"])
    return score_from_document(fragments, header, options, file_name=job["file_name"])


@dataclass(frozen=True)
class ScoreContent:
    format: str
    content: bytes
    content_type: str


class Results:
    def __init__(self, engine: AsyncEngine, store: ObjectStore) -> None:
        self.engine = engine
        self.store = store
        # One export of a score at a time (music21 is slow; two requests should not both run it).
        self._export_lock = asyncio.Lock()

    async def _artifact(self, artifact_id: int) -> tuple[str, str]:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(artifacts.c.key, artifacts.c.content_type).where(artifacts.c.id == artifact_id)
                )
            ).first()
        assert row is not None
        return str(row.key), str(row.content_type)

    async def get(self, owner: str, job_id: str, fmt: str) -> ScoreContent:
        if fmt not in FORMATS:
            raise InvalidArgumentError(
                f"unknown score format {fmt!r}; use one of {', '.join(FORMATS)}",
                reason="BAD_FORMAT",
                field="format",
            )
        check_job_id(job_id)
        async with self.engine.connect() as connection:
            job = (
                (await connection.execute(select(jobs).where(jobs.c.id == job_id, jobs.c.owner == owner)))
                .mappings()
                .first()
            )
        if job is None:
            raise NotFoundError(f"no job {job_id!r}", reason="NO_SUCH_JOB", field="job_id")
        if job["state"] != JobState.OMR_COMPLETED or job["score_artifact_id"] is None:
            raise ConflictError(
                f"job {job_id} has no score yet (state {job['state']})", reason="NO_SCORE_YET", field="job_id"
            )
        if fmt in {"pb", "json"}:
            artifact_id = job["score_artifact_id"] if fmt == "pb" else job["score_json_artifact_id"]
            key, content_type = await self._artifact(artifact_id)
            return ScoreContent(fmt, await self.store.get(key), content_type)
        return await self._export(job_id, int(job["score_artifact_id"]), fmt)

    async def _export(self, job_id: str, score_id: int, fmt: str) -> ScoreContent:
        async with self._export_lock:
            cached = await self._cached_export(score_id, fmt)
            if cached is not None:
                key, content_type = cached
                return ScoreContent(fmt, await self.store.get(key), content_type)
            from ir.export import export_score

            key, _ = await self._artifact(score_id)
            score = score_pb2.Score.FromString(await self.store.get(key))
            data, content_type = await asyncio.to_thread(export_score, score, fmt)
            blob = await put_blob(self.store, fmt, data, content_type, SCORE_FORMATS[fmt].suffix)
            await self._record_export(job_id, score_id, blob)
            return ScoreContent(fmt, data, content_type)

    async def _cached_export(self, score_id: int, fmt: str) -> tuple[str, str] | None:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(artifacts.c.key, artifacts.c.content_type)
                    .join(artifact_lineage, artifact_lineage.c.child_id == artifacts.c.id)
                    .where(
                        artifact_lineage.c.parent_id == score_id,
                        artifact_lineage.c.relation == "exported_as",
                        artifacts.c.kind == fmt,
                    )
                    .limit(1)
                )
            ).first()
        return (str(row.key), str(row.content_type)) if row else None

    async def _record_export(self, job_id: str, score_id: int, blob: Blob) -> None:
        async with self.engine.begin() as connection:
            export_id = await record_artifact(connection, blob)
            await record_lineage(connection, score_id, export_id, "exported_as", job_id=job_id)
