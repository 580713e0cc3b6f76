"""The job state machine is declared once (gateway/jobs/records.py): these tests pin its shape
and check that the repository, the queue and the OpenAPI document follow it."""

from __future__ import annotations

from pathlib import Path

import pytest
from etude.jobs.v1 import job_service_pb2 as jobs_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.api.openapi import openapi_document
from gateway.events import JobEvents
from gateway.jobs.records import (
    TRANSITIONS,
    IllegalTransitionError,
    JobState,
    can_transition,
    check_transition,
    sources_of,
)
from gateway.jobs.repository import JobRepository, change_state, record_transition
from storage.objects import LocalObjectStore
from storage.tables import utcnow
from tests.gateway.pdfs import blank_pdf

S = JobState


def test_the_machine_is_complete_and_terminal_states_are_final() -> None:
    assert set(TRANSITIONS) == set(JobState)
    for state in JobState:
        assert (not TRANSITIONS[state]) == state.terminal
    assert sources_of(S.OMR_PROCESSING) == (S.PENDING, S.OMR_PROCESSING)
    assert sources_of(S.OMR_COMPLETED) == (S.OMR_PROCESSING,)  # only a lease holder completes
    assert set(sources_of(S.CANCELLED)) == {S.PENDING, S.OMR_PROCESSING}
    for final in (S.OMR_COMPLETED, S.OMR_FAILED, S.CANCELLED):
        for target in JobState:
            assert not can_transition(final, target)
            with pytest.raises(IllegalTransitionError):
                check_transition(final, target)


def test_openapi_states_come_from_the_machine() -> None:
    job = openapi_document()["components"]["schemas"]["Job"]["properties"]["state"]
    assert job["enum"] == [f"JOB_STATE_{s.value}" for s in JobState]
    assert set(job["enum"]) == set(jobs_pb2.JobState.DESCRIPTOR.values_by_name) - {"JOB_STATE_UNSPECIFIED"}
    assert "OMR_COMPLETED → (final)" in job["description"]


async def test_illegal_moves_change_nothing(engine: AsyncEngine, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    repo = JobRepository(engine, store, JobEvents(), max_pdf_bytes=10**6)
    job = await repo.create("alice", blank_pdf(1))
    job_id = job.row["id"]
    async with engine.begin() as connection:
        with pytest.raises(IllegalTransitionError):
            await change_state(connection, job_id, S.PENDING, S.OMR_COMPLETED, "skipping work", utcnow())
        with pytest.raises(IllegalTransitionError):
            await record_transition(connection, job_id, S.CANCELLED, S.PENDING, "revived", utcnow())
        # A compare-and-set from a state the job is not in changes nothing.
        assert not await change_state(connection, job_id, S.OMR_PROCESSING, S.CANCELLED, "x", utcnow())
    await repo.cancel("alice", job_id)
    after = await repo.get("alice", job_id)
    assert after.state is S.CANCELLED
    assert [t["to_state"] for t in after.transitions] == [S.PENDING, S.CANCELLED]
