"""Job rows as the API sees them: states, options and the conversion to the Job message."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from etude.jobs.v1 import job_service_pb2 as jobs_pb2
from etude.omr.v1 import omr_service_pb2 as omr_pb2
from google.protobuf import timestamp_pb2


class JobState(StrEnum):
    PENDING = "PENDING"
    OMR_PROCESSING = "OMR_PROCESSING"
    OMR_COMPLETED = "OMR_COMPLETED"
    OMR_FAILED = "OMR_FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in {JobState.OMR_COMPLETED, JobState.OMR_FAILED, JobState.CANCELLED}

    def to_proto_name(self) -> str:
        return f"JOB_STATE_{self.value}"

    def to_proto(self) -> jobs_pb2.JobState.ValueType:
        return jobs_pb2.JobState.Value(self.to_proto_name())

    @classmethod
    def from_proto(cls, value: int) -> JobState | None:
        if value == jobs_pb2.JOB_STATE_UNSPECIFIED:
            return None
        return cls(jobs_pb2.JobState.Name(value).removeprefix("JOB_STATE_"))  # type: ignore[arg-type]


# The job state machine, declared once: the queue's and the repository's WHERE clauses, the
# transition records and the OpenAPI document all derive from it. Creation is recorded as
# PENDING → PENDING ("created"); OMR_PROCESSING → OMR_PROCESSING is a claim after a lease expired.
TRANSITIONS: Mapping[JobState, frozenset[JobState]] = MappingProxyType(
    {
        JobState.PENDING: frozenset(
            {JobState.PENDING, JobState.OMR_PROCESSING, JobState.OMR_FAILED, JobState.CANCELLED}
        ),
        JobState.OMR_PROCESSING: frozenset(
            {
                JobState.OMR_PROCESSING,
                JobState.PENDING,
                JobState.OMR_COMPLETED,
                JobState.OMR_FAILED,
                JobState.CANCELLED,
            }
        ),
        JobState.OMR_COMPLETED: frozenset(),
        JobState.OMR_FAILED: frozenset(),
        JobState.CANCELLED: frozenset(),
    }
)


class IllegalTransitionError(ValueError):
    """A state change the state machine does not allow (a bug, never the client's fault)."""


def can_transition(from_state: JobState, to_state: JobState) -> bool:
    return to_state in TRANSITIONS[from_state]


def sources_of(to_state: JobState) -> tuple[JobState, ...]:
    """The states a job may be in to move to `to_state`, in declaration order (for WHERE … IN)."""
    return tuple(state for state, targets in TRANSITIONS.items() if to_state in targets)


def check_transition(from_state: JobState, to_state: JobState) -> None:
    if not can_transition(from_state, to_state):
        raise IllegalTransitionError(f"a job may not go from {from_state.value} to {to_state.value}")


def new_job_id() -> str:
    """32 hex digits, time-ordered (milliseconds first), so ids sort by creation for paging."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


def options_to_json(options: omr_pb2.RecognitionOptions) -> str:
    return json.dumps(
        {"dpi": options.dpi, "first_page": options.first_page, "page_limit": options.page_limit},
        sort_keys=True,
    )


def options_from_json(text: str) -> omr_pb2.RecognitionOptions:
    values = json.loads(text)
    return omr_pb2.RecognitionOptions(**values)


def options_key(options: omr_pb2.RecognitionOptions) -> str:
    """Canonical options for the results cache (the server's default dpi is spelt as 0)."""
    return f"dpi={options.dpi};first_page={options.first_page};page_limit={options.page_limit}"


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def transition_to_proto(row: Mapping[Any, Any]) -> jobs_pb2.StateTransition:
    return jobs_pb2.StateTransition(
        from_state=JobState(row["from_state"]).to_proto(),
        to_state=JobState(row["to_state"]).to_proto(),
        time=timestamp(row["time"]),
        reason=row["reason"],
    )


def job_to_proto(row: Mapping[Any, Any], transitions: Sequence[Mapping[Any, Any]] = ()) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        id=row["id"],
        state=JobState(row["state"]).to_proto(),
        file_name=row["file_name"],
        pdf_sha256=row["pdf_sha256"],
        pdf_size=row["pdf_size"],
        options=options_from_json(row["options_json"]),
        page_count=row["page_count"],
        pages_done=row["pages_done"],
        attempts=row["attempts"],
        error=row["last_error"],
        create_time=timestamp(row["create_time"]),
        update_time=timestamp(row["update_time"]),
        transitions=[transition_to_proto(t) for t in transitions],
        idempotency_key=row["idempotency_key"] or "",
        cached=row["cached"],
    )
