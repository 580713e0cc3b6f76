"""Settings of the gateway, from the environment (ETUDE_GATEWAY_*) or keyword arguments.

With no configuration at all it runs embedded: a SQLite file and an object folder under
./.etude/, the OMR server on localhost:50051, and no tokens (every caller is owner "local";
only sensible on loopback, which is the default host).
"""

from __future__ import annotations

import os
import socket

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ETUDE_GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    # 0 picks a free port (tests, benchmarks).
    grpc_port: int = 50052
    http_port: int = 8080

    # One address, or a comma list of host:port served round-robin (grpc's round_robin policy).
    omr_address: str = "localhost:50051"
    # Bearer token the OMR servers require (OmrSettings.auth_token), if any.
    omr_token: SecretStr | None = None
    # Deadline for one RecognizeDocument stream, and for the small GetServiceInfo call.
    omr_deadline_seconds: float = 900.0
    omr_info_deadline_seconds: float = 10.0
    # Transient OMR errors (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) are retried within
    # one attempt with capped, jittered exponential backoff, this many times.
    omr_retries: int = 8
    omr_backoff_initial_seconds: float = 0.5
    omr_backoff_max_seconds: float = 10.0

    database_url: str = "sqlite+aiosqlite:///./.etude/gateway.db"
    # A folder, file:///folder, or s3://bucket/prefix (endpoint and credentials below).
    object_store_url: str = "./.etude/objects"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_create_bucket: bool = False
    # How long one store operation keeps retrying an unreachable store before the attempt is
    # handed back to the queue (the job is retried later, not failed).
    store_retry_seconds: float = 60.0

    # Bearer token → owner, e.g. ETUDE_GATEWAY_TOKENS='{"s3cr3t": "alice"}'. Empty: no auth.
    tokens: dict[str, str] = Field(default_factory=dict)

    max_pdf_bytes: int = 100 * 1024 * 1024
    # Pixels of one uploaded image the gateway decodes to show it (PNG renditions of TIFF
    # frames); the same as the OMR server's max_image_pixels, which refuses larger ones anyway.
    max_image_pixels: int = 100_000_000
    # Jobs processed concurrently by this process (0: API only, no worker).
    workers: int = 2
    # Names this process's workers in the jobs table and transition reasons (not for fencing).
    worker_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    lease_seconds: float = 30.0
    # How often an idle worker looks for due jobs (it is also woken at once by local uploads).
    poll_seconds: float = 1.0
    # Attempts (claims) before a job that keeps failing transiently is failed for good.
    max_attempts: int = 5
    # Delay before a released job is retried: retry_delay * 2^(attempts-1), capped.
    retry_delay_seconds: float = 2.0
    retry_delay_max_seconds: float = 120.0
    # Reuse the score of an earlier job on the same PDF, options and model.
    results_cache: bool = True
    # How often WatchJob / SSE check the database for changes made by other processes.
    watch_poll_seconds: float = 0.5
    # Open watch streams (SSE + WatchJob) allowed per job and per owner; more get 429 /
    # RESOURCE_EXHAUSTED at once.
    max_streams_per_job: int = 8
    max_streams_per_owner: int = 32
    # A client has this long to send a request's headers (from connecting, or from the end of the
    # previous response) before the connection is closed: bounds half-sent requests.
    header_timeout_seconds: float = 10.0
