"""`etude serve`: a port already in use ends the command at once with one line that names the
port and the flag that moves it, never a traceback; the gateway's ports are flags too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.storage.fixtures import free_port
from tests.web.servers import ROOT


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize(
    ("which", "flag", "what"),
    [
        ("omr", "--omr-port", "OMR gRPC"),
        ("gateway", "--http-port", "gateway HTTP"),
        ("gateway", "--grpc-port", "gateway gRPC"),
        ("all", "--omr-port", "OMR gRPC"),
        ("all", "--http-port", "gateway HTTP"),
    ],
)
def test_a_port_in_use_is_named_in_one_line(taken_port: int, which: str, flag: str, what: str) -> None:
    command = [sys.executable, "-m", "etude_cli.main", "serve", which, flag, str(taken_port)]
    # Every other port free, so that a server running on this machine cannot be the one named.
    ports = ("ETUDE_OMR_PORT", "ETUDE_OMR_METRICS_PORT", "ETUDE_GATEWAY_GRPC_PORT", "ETUDE_GATEWAY_HTTP_PORT")
    env = {**os.environ, **{name: str(free_port()) for name in ports}}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"etude serve {which}: error: port {taken_port} ({what}) is already in use on 127.0.0.1; "
        f"choose another with {flag}"
    ], done.stderr
    assert "Traceback" not in done.stdout + done.stderr
