"""The outside programs the client tests drive (MuseScore 3, Compose, the containers' health
check), each found on PATH and run the way a person or a container would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MUSESCORE = shutil.which("musescore3") or shutil.which("mscore3")
needs_musescore = pytest.mark.skipif(
    MUSESCORE is None,
    reason="MuseScore 3 is not installed (Debian: apt-get install musescore3)",
)


def musescore(source: Path, target: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Converts with MuseScore's command line, with no display (Qt offscreen platform)."""
    assert MUSESCORE is not None
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        # MuseScore writes settings and caches under the home and runtime folders.
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    return subprocess.run(
        [MUSESCORE, "-o", str(target), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) when present, else Debian's `docker-compose` (1.29)."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


COMPOSE = compose_command()


def run_healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
