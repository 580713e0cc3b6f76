"""The contract in protos/: generated code is fresh, buf lint is clean, the packages import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "tools/generate_protos.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def _buf() -> str | None:
    local = ROOT / "node_modules" / ".bin" / "buf"
    return str(local) if local.exists() else shutil.which("buf")


@pytest.mark.skipif(_buf() is None, reason="buf not installed (npm ci installs @bufbuild/buf)")
def test_buf_lint_is_clean() -> None:
    result = subprocess.run([str(_buf()), "lint"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_packages_share_one_contract() -> None:
    from etude.ir.v1 import score_pb2
    from etude.jobs.v1 import job_service_pb2
    from etude.omr.v1 import omr_service_pb2

    page = omr_service_pb2.RecognizeDocumentResponse(page=score_pb2.PageFragment(page_index=3))
    assert page.WhichOneof("event") == "page"
    assert job_service_pb2.JobState.Name(job_service_pb2.JOB_STATE_UNSPECIFIED) == "JOB_STATE_UNSPECIFIED"
    states = set(job_service_pb2.JobState.keys())
    assert {"JOB_STATE_PENDING", "JOB_STATE_OMR_PROCESSING", "JOB_STATE_OMR_COMPLETED"} <= states
    assert {"JOB_STATE_OMR_FAILED", "JOB_STATE_CANCELLED"} <= states


def test_cli_lists_its_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "etude_cli.main", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    for command in ("transcribe", "serve", "eval", "bench"):
        assert command in result.stdout
