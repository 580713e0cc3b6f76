"""Prometheus metrics of the OMR server (served on their own HTTP port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

PAGES = Counter("etude_omr_pages_total", "Pages recognised", ["outcome"])
STAVES = Counter("etude_omr_staves_total", "Staves recognised")
NOTES = Counter("etude_omr_notes_total", "Notes recognised")
REQUESTS = Counter("etude_omr_requests_total", "RecognizeDocument calls by final status", ["code"])
ERRORS = Counter("etude_omr_errors_total", "Failed requests by reason", ["reason"])
REQUEST_SECONDS = Histogram(
    "etude_omr_request_seconds",
    "RecognizeDocument wall time by final status",
    ["code"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0),
)
IN_FLIGHT = Gauge("etude_omr_requests_in_flight", "RecognizeDocument streams being served")
QUEUED_STAVES = Gauge("etude_omr_queued_staves", "Staff images waiting for inference")
QUEUE_SECONDS = Histogram(
    "etude_omr_queue_seconds", "Time a staff waits before its batch starts", buckets=_LATENCY_BUCKETS
)
INFER_SECONDS = Histogram("etude_omr_infer_seconds", "Model time per batch", buckets=_LATENCY_BUCKETS)
BATCH_SIZE = Histogram(
    "etude_omr_batch_size", "Staves per inference batch", buckets=(1, 2, 4, 8, 12, 16, 24, 32, 64)
)
LAYOUT_SECONDS = Histogram(
    "etude_omr_layout_seconds", "Rasterising and staff detection per page", buckets=_LATENCY_BUCKETS
)
DECODE_SECONDS = Histogram(
    "etude_omr_decode_seconds", "Symbols → page fragment per page", buckets=_LATENCY_BUCKETS
)
PAGE_SECONDS = Histogram("etude_omr_page_seconds", "Wall time per page", buckets=_LATENCY_BUCKETS)
