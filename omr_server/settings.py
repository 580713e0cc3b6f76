"""Settings of the OMR server, from the environment (ETUDE_OMR_*) or keyword arguments."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_model_dir() -> Path:
    # The model side owns the convention (models/etude-omr-v1, or ETUDE_MODEL_DIR).
    try:
        from recognition.manifest import default_model_dir
    except ImportError:  # model code not installed: same convention, spelled out
        env = os.environ.get("ETUDE_MODEL_DIR")
        return Path(env) if env else Path(__file__).resolve().parent.parent / "models" / "etude-omr-v1"
    return default_model_dir()


class OmrSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ETUDE_OMR_", extra="ignore")

    host: str = "127.0.0.1"
    # 0 picks a free port (tests); the real default is the conventional 50051.
    port: int = 50051
    metrics_port: int | None = Field(default=9101, description="Prometheus /metrics; None disables it")
    model_dir: Path = Field(default_factory=_default_model_dir)
    # onnxruntime providers to try, in order; empty = CUDA when usable, else CPU.
    providers: list[str] = Field(default_factory=list)

    # Input limits: each failure is INVALID_ARGUMENT or RESOURCE_EXHAUSTED with a detail naming it.
    max_pdf_bytes: int = 100 * 1024 * 1024
    max_pages: int = 200
    # Pixel budget per rasterised page (A4 at 300 dpi is 8.7 Mpx; A3 at 400 dpi is 31 Mpx).
    max_page_pixels: int = 40_000_000
    # Cost limits per page, enforced in the request's PDF worker process (pages/worker.py):
    # wall seconds to draw a page and find its staves, also to open the document (a page
    # takes about 1 s); address space beyond the worker's baseline (a 40 Mpx page of music
    # peaks at 0.3 GB resident); decoded pixels of one embedded image; staves per page (a
    # dense orchestral page has about 30; each staff costs the model 0.1-0.5 s of CPU).
    max_page_seconds: float = 30.0
    max_page_memory_mb: int = 1536
    max_image_pixels: int = 100_000_000
    max_staves_per_page: int = 64
    default_dpi: int = 300
    min_dpi: int = 72
    max_dpi: int = 600

    # Dynamic batching of staff images across pages and requests.
    max_batch_size: int = 16
    max_queue_delay_ms: float = 5.0
    max_queued_staves: int = 512
    inference_threads: int = 1
    # Beams of the search that re-reads each bar whose notes do not fill the metre
    # (tokens/reread.py); 0 keeps the greedy reading. Measured in docs/omr-server.md.
    reread_beams: int = 4
    # Threads re-reading bars (numpy releases the GIL); pages are laid out in worker processes.
    layout_threads: int = 2

    # Concurrent RecognizeDocument streams; one more is refused with RESOURCE_EXHAUSTED.
    max_concurrent_requests: int = 8
    # Pages of one request in progress at once after the first, which is read alone (the next
    # page's layout overlaps this page's inference and re-reading). 0 = auto: 2, on CPU too
    # (measured: docs/benchmarks.md, session 9).
    pages_in_flight: int = 0
    # Shared bearer token; when set, every call must send `authorization: Bearer <token>`.
    auth_token: str | None = None
    # Seconds to let in-flight streams finish on SIGTERM.
    drain_seconds: float = 30.0
    # Allow ObjectReference file:// URIs under this folder (None: refuse object references).
    file_root: Path | None = None
