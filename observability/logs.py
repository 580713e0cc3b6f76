"""JSON-lines logs whose every record carries the current `request_id` and `job_id`.

The ids live in context variables, so they follow a request or a job through its awaits and
tasks without being passed around. A log-record factory (installed on import) copies them onto
every record, whichever handler formats it: the JSON handler of `configure_logging`, pytest's
caplog, anything else.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
JOB_ID: ContextVar[str | None] = ContextVar("job_id", default=None)
# An id taken from a caller must be short and printable: it ends up in our logs and headers.
_VALID_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(given: str | bytes | None) -> str:
    """The caller's id when it is a sane one, else a new one."""
    if isinstance(given, bytes):
        given = given.decode("ascii", "replace")
    return given if given and _VALID_ID.fullmatch(given) else new_request_id()


def bind(*, request_id: str | None = None, job_id: str | None = None) -> None:
    """Sets the ids given for the rest of the current task (each request runs in its own task,
    whose context is a copy, so nothing leaks to other requests)."""
    if request_id is not None:
        REQUEST_ID.set(request_id)
    if job_id is not None:
        JOB_ID.set(job_id)


@contextlib.contextmanager
def bound(*, request_id: str | None = None, job_id: str | None = None) -> Iterator[None]:
    """Sets the ids given (others unchanged) for the duration of the block."""
    tokens = []
    if request_id is not None:
        tokens.append((REQUEST_ID, REQUEST_ID.set(request_id)))
    if job_id is not None:
        tokens.append((JOB_ID, JOB_ID.set(job_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def _install_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_etude_ids", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        record.job_id = JOB_ID.get()
        return record

    factory._etude_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()


class _Formatter(JsonFormatter):
    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in log_data.items() if value is not None}


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Root logger → stderr, one JSON object per line (`ETUDE_LOG_FORMAT=text` for humans).

    Fields: time, level, logger, message, request_id and job_id when set, plus any `extra=`.
    """
    level = level or os.environ.get("ETUDE_LOG_LEVEL", "INFO")
    fmt = fmt or os.environ.get("ETUDE_LOG_FORMAT", "json")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "text":
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s %(job_id)s]: %(message)s")
        )
    else:
        handler.setFormatter(
            _Formatter(
                "{levelname}{name}{message}",
                style="{",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",  # ISO 8601, UTC
            )
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
