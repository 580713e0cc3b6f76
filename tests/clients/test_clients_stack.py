"""The Compose stack without a container engine: the OMR server and the gateway run as their images
run them (`etude serve omr`, `etude serve gateway`) with the environment `compose config` gives
them, host names pointed at loopback stand-ins: the real Postgres for `postgres`, moto's S3
server for `minio`. Where no trained model is installed, the OMR test double (the same gRPC
protocol) stands in for `omr`. The images' health check must report both servers SERVING, and a
PDF sent through the REST API must come back as a score whose objects are in the bucket.

Skips where neither `docker compose` nor `docker-compose` can render the file, or no Postgres
can be found or started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.clients.programs import COMPOSE, run_healthcheck
from tests.gateway.conftest import real_model_missing
from tests.storage.fixtures import free_port, fresh_postgres_database, moto_s3, postgres_server
from tests.web.servers import engraved_pdf, running

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    COMPOSE is None, reason="no `docker compose` / `docker-compose` to render compose.yaml"
)


def compose_environment() -> dict[str, dict[str, str]]:
    assert COMPOSE is not None
    rendered = subprocess.run(
        [*COMPOSE, "-f", "compose.yaml", "config"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    services = yaml.safe_load(rendered.stdout)["services"]
    return {
        name: {k: str(v) for k, v in services[name]["environment"].items()} for name in ("omr", "gateway")
    }


def wait_serving(address: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Polls the images' health check until it passes, as Compose's `service_healthy` does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if run_healthcheck(address).returncode == 0:
            return
        time.sleep(1)
    result = run_healthcheck(address)
    pytest.fail(f"{address} is not SERVING after {timeout} s: {result.stderr}\n{log.read_text()[-3000:]}")


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    with postgres_server() as (host, port):
        async with fresh_postgres_database(host, port) as url:
            yield url


def test_the_compose_services_run_with_their_compose_settings(postgres_url: str, tmp_path: Path) -> None:
    environment = compose_environment()
    omr_port, http_port, grpc_port = free_port(), free_port(), free_port()
    with moto_s3() as (_, s3_url):
        omr_env = {
            **environment["omr"],
            "ETUDE_OMR_HOST": "127.0.0.1",
            "ETUDE_OMR_PORT": str(omr_port),
            "ETUDE_OMR_METRICS_PORT": str(free_port()),
        }
        gateway_env = {
            **environment["gateway"],
            "ETUDE_GATEWAY_HOST": "127.0.0.1",
            "ETUDE_GATEWAY_HTTP_PORT": str(http_port),
            "ETUDE_GATEWAY_GRPC_PORT": str(grpc_port),
            "ETUDE_GATEWAY_OMR_ADDRESS": f"127.0.0.1:{omr_port}",
            "ETUDE_GATEWAY_DATABASE_URL": postgres_url,
            "ETUDE_GATEWAY_S3_ENDPOINT_URL": s3_url,
        }
        base_env = {key: value for key, value in os.environ.items() if not key.startswith("ETUDE_")}
        if real_model_missing() is None:
            omr_command = [sys.executable, "-m", "etude_cli.main", "serve", "omr"]
        else:
            omr_command = [sys.executable, "-m", "tests.gateway.omr_double", "--port", str(omr_port)]
        gateway_command = [sys.executable, "-m", "etude_cli.main", "serve", "gateway"]
        with (
            running(omr_command, {**base_env, **omr_env}, ROOT, tmp_path / "omr.log") as omr,
            running(
                gateway_command, {**base_env, **gateway_env}, tmp_path, tmp_path / "gateway.log"
            ) as gateway,
        ):
            if real_model_missing() is None:
                wait_serving(f"127.0.0.1:{omr_port}", omr, tmp_path / "omr.log")
            wait_serving(f"127.0.0.1:{grpc_port}", gateway, tmp_path / "gateway.log")

            token = json.loads(environment["gateway"]["ETUDE_GATEWAY_TOKENS"])
            assert list(token.values()) == ["demo"]
            headers = {"authorization": f"Bearer {next(iter(token))}"}
            pdf = engraved_pdf(tmp_path, (7, 8))
            with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", headers=headers, timeout=30) as api:
                created = api.post(
                    "/v1/jobs", files={"file": (pdf.name, pdf.read_bytes(), "application/pdf")}
                )
                assert created.status_code == 201, created.text
                job_id = created.json()["job"]["id"]
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    job = api.get(f"/v1/jobs/{job_id}").json()["job"]
                    if job["state"] in {"JOB_STATE_OMR_COMPLETED", "JOB_STATE_OMR_FAILED"}:
                        break
                    time.sleep(0.5)
                assert job["state"] == "JOB_STATE_OMR_COMPLETED", job
                score = api.get(f"/v1/jobs/{job_id}/score", params={"format": "musicxml"})
                assert score.status_code == 200
                assert b"<score-partwise" in score.content
                metrics = api.get("/metrics")
                assert "etude_gateway_jobs_created_total 1.0" in metrics.text

        # The PDF and the results went to the S3 bucket the compose file names.
        import boto3

        s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
        bucket, _, prefix = (
            environment["gateway"]["ETUDE_GATEWAY_OBJECT_STORE_URL"].removeprefix("s3://").partition("/")
        )
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert any(key.startswith(f"{prefix}/pdf/") for key in keys), keys
        assert len(keys) >= 4, keys  # the PDF, page fragments, the score (binary and JSON)
