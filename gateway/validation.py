"""Checks of client-supplied identifiers and text, shared by REST and gRPC, run before anything
reaches the database or the object store: a bad value is INVALID_ARGUMENT / 400 with its field,
never a driver error (Postgres refuses NUL in text) or a path in an OS error."""

from __future__ import annotations

import re

from etude.omr.v1 import omr_service_pb2 as omr_pb2

from gateway.errors import InvalidArgumentError

JOB_ID = re.compile(r"[0-9a-f]{32}")
# pdf/<first two hex digits>/<sha256>.pdf: the only objects a job may be created from.
PDF_KEY = re.compile(r"pdf/([0-9a-f]{2})/([0-9a-f]{64})\.pdf")
# C0 controls (NUL included), DEL and the C1 controls; lone surrogates cannot be stored as UTF-8.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
INT32_MAX = 2**31 - 1

MAX_FILE_NAME = 500
MAX_IDEMPOTENCY_KEY = 200
MAX_CANCEL_REASON = 500
OPTION_FIELDS = ("dpi", "first_page", "page_limit")


def check_job_id(job_id: str, field: str = "job_id") -> str:
    """Job ids are the 32 lowercase hex digits this service hands out; anything else is a bad
    request (checked before the database: `a\\x00b` must not reach Postgres)."""
    if not JOB_ID.fullmatch(job_id):
        raise InvalidArgumentError(
            f"{field} must be 32 lowercase hex digits, as returned on creation",
            reason="BAD_JOB_ID",
            field=field,
        )
    return job_id


def check_text(value: str, *, field: str, limit: int, reason: str) -> str:
    """Printable text of at most `limit` characters (no control characters, no lone surrogates)."""
    if len(value) > limit:
        raise InvalidArgumentError(
            f"{field} is {len(value)} characters; at most {limit} are accepted", reason=reason, field=field
        )
    if _FORBIDDEN.search(value):
        raise InvalidArgumentError(f"{field} contains control characters", reason=reason, field=field)
    return value


def check_file_name(value: str) -> str:
    return check_text(value, field="file_name", limit=MAX_FILE_NAME, reason="BAD_FILE_NAME")


def check_idempotency_key(value: str) -> str:
    return check_text(value, field="idempotency_key", limit=MAX_IDEMPOTENCY_KEY, reason="BAD_IDEMPOTENCY_KEY")


def check_cancel_reason(value: str) -> str:
    return check_text(value, field="reason", limit=MAX_CANCEL_REASON, reason="BAD_REASON")


def check_option(name: str, value: int) -> int:
    """Options are int32 in the protocol; negative ones mean nothing."""
    if not 0 <= value <= INT32_MAX:
        raise InvalidArgumentError(
            f"options.{name} must be between 0 and {INT32_MAX}, got {value}",
            reason="BAD_OPTIONS",
            field=f"options.{name}",
        )
    return value


def check_options(options: omr_pb2.RecognitionOptions) -> None:
    for name in OPTION_FIELDS:
        check_option(name, getattr(options, name))


def check_pdf_key(key: str) -> str:
    """A job may be created only from a stored PDF's key (`pdf/<sha[:2]>/<sha>.pdf`); the form is
    checked before any lookup, so a key like `pdf` or 300 characters never reaches the store."""
    match = PDF_KEY.fullmatch(key)
    if match is None or match.group(2)[:2] != match.group(1):
        raise InvalidArgumentError(
            "object.uri must name a stored PDF: pdf/<sha256[:2]>/<sha256>.pdf or its URI",
            reason="BAD_OBJECT_URI",
            field="object.uri",
        )
    return key
