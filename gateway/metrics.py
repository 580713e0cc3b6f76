"""Prometheus metrics of the gateway process (served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

JOBS_CREATED = Counter("etude_gateway_jobs_created_total", "Jobs created (idempotent replays excluded).")
ATTEMPTS_ENDED = Counter(
    "etude_gateway_attempts_total", "Job attempts run by this process's workers, by outcome.", ["outcome"]
)
PAGES_STORED = Counter("etude_gateway_pages_stored_total", "Page fragments received and stored.")
OMR_RETRIES = Counter("etude_gateway_omr_retries_total", "Transient OMR errors retried within an attempt.")
