"""Prometheus metrics of the gateway process (served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOBS_CREATED = Counter("etude_gateway_jobs_created_total", "Jobs created (idempotent replays excluded).")
ATTEMPTS_ENDED = Counter(
    "etude_gateway_attempts_total", "Job attempts run by this process's workers, by outcome.", ["outcome"]
)
JOB_TRANSITIONS = Counter(
    "etude_gateway_job_transitions_total",
    "Job state changes made by this process's workers, by the state entered.",
    ["state"],
)
JOB_SECONDS = Histogram(
    "etude_gateway_job_seconds",
    "Time from job creation to its end (succeeded or failed), as seen by the worker that ended it.",
    ["state"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
PAGES_STORED = Counter("etude_gateway_pages_stored_total", "Page fragments received and stored.")
OMR_RETRIES = Counter("etude_gateway_omr_retries_total", "Transient OMR errors retried within an attempt.")
HTTP_SECONDS = Histogram(
    "etude_gateway_http_request_seconds",
    "REST request latency (event streams: until the stream ends), by route template and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0),
)
