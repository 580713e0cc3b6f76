"""Servers for the browser and stack tests: processes started and stopped around a test, the
gateway's settings for a throw-away home, and engraved PDFs to upload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.storage.fixtures import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "web-test-token"


@dataclass(frozen=True)
class Gateway:
    url: str
    log: Path
    label: str

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30)


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the gateway exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the gateway was not ready after {timeout} s:\n{log.read_text()[-4000:]}")


@contextmanager
def running(
    command: list[str], env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A server subprocess, stopped with SIGTERM (then killed) however the test ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def gateway_env(home: Path, http_port: int, omr_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "ETUDE_GATEWAY_HTTP_PORT": str(http_port),
        "ETUDE_GATEWAY_GRPC_PORT": str(free_port()),
        "ETUDE_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'gateway.db'}",
        "ETUDE_GATEWAY_OBJECT_STORE_URL": str(home / "objects"),
        "ETUDE_GATEWAY_TOKENS": json.dumps({TOKEN: "web-test"}),
        "ETUDE_GATEWAY_OMR_ADDRESS": f"127.0.0.1:{omr_port}",
        "ETUDE_OMR_PORT": str(omr_port),
        "ETUDE_OMR_METRICS_PORT": str(free_port()),
    }


def engraved_pdf(folder: Path, seeds: tuple[int, int]) -> Path:
    """Two engraved piano pages (made-up music, see tests/omr/engraving.py); the seeds make each
    PDF different, so that no test gets another's cached result."""
    from tests.omr.engraving import engraved_pages, images_to_pdf, piano_kern

    pages = [
        page for seed in seeds for page in engraved_pages(piano_kern(8, seed=seed, title=f"Web test {seed}"))
    ]
    assert len(pages) == 2
    path = folder / f"two-pages-{seeds[0]}-{seeds[1]}.pdf"
    path.write_bytes(images_to_pdf([page.image for page in pages]))
    return path
