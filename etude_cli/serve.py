"""`etude serve omr|gateway|all`: run the servers until SIGTERM/SIGINT.

`all` runs the OMR server and the gateway in one process, the gateway pointed at the local OMR
server. Settings come from the environment (ETUDE_OMR_*, ETUDE_GATEWAY_*); the options here
override the most common ones (`--host` applies to every listener). A port already in use ends
the command with one line naming it.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("which", choices=["omr", "gateway", "all"], help="what to run")
    parser.add_argument("--host", default=None, help="address to listen on (default from settings)")
    parser.add_argument("--omr-port", type=int, default=None, help="OMR gRPC port")
    parser.add_argument("--metrics-port", type=int, default=None, help="OMR Prometheus port")
    parser.add_argument("--grpc-port", type=int, default=None, help="gateway gRPC port (JobService)")
    parser.add_argument("--http-port", type=int, default=None, help="gateway HTTP port (REST, web page)")
    parser.add_argument("--model-dir", type=Path, default=None, help="recognition model folder")


def _omr_settings(args: argparse.Namespace) -> object:
    from omr_server.settings import OmrSettings

    overrides: dict[str, object] = {}
    for option, field in (("host", "host"), ("omr_port", "port"), ("metrics_port", "metrics_port")):
        if getattr(args, option) is not None:
            overrides[field] = getattr(args, option)
    if args.model_dir is not None:
        overrides["model_dir"] = args.model_dir
    return OmrSettings(**overrides)  # type: ignore[arg-type]


def _gateway_settings(args: argparse.Namespace, **values: Any) -> object:
    from gateway.settings import GatewaySettings

    for option, field in (("host", "host"), ("grpc_port", "grpc_port"), ("http_port", "http_port")):
        if getattr(args, option) is not None:
            values[field] = getattr(args, option)
    return GatewaySettings(**values)


def _listeners(args: argparse.Namespace) -> list[tuple[str, str, str, int]]:
    """(what, its flag, host, port) of every port this command will listen on."""
    found: list[tuple[str, str, str, int]] = []
    if args.which in ("omr", "all"):
        omr: Any = _omr_settings(args)
        found.append(("OMR gRPC", "--omr-port", omr.host, omr.port))
        if omr.metrics_port:
            found.append(("OMR metrics", "--metrics-port", omr.host, omr.metrics_port))
    if args.which in ("gateway", "all"):
        gateway: Any = _gateway_settings(args)
        found.append(("gateway gRPC", "--grpc-port", gateway.host, gateway.grpc_port))
        found.append(("gateway HTTP", "--http-port", gateway.host, gateway.http_port))
    return found


def _port_taken(host: str, port: int) -> bool:
    """Whether binding fails because something listens there. A plain bind, no SO_REUSEPORT:
    gRPC sets that option, and would otherwise share a port with another gRPC server silently."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def _busy_port(args: argparse.Namespace) -> str | None:
    """The message for the first configured port already in use, or None."""
    for what, flag, host, port in _listeners(args):
        if port and _port_taken(host, port):
            return f"port {port} ({what}) is already in use on {host}; choose another with {flag}"
    return None


def run(args: argparse.Namespace) -> int:
    import asyncio

    from observability.logs import configure_logging

    configure_logging()  # JSON lines on stderr; ETUDE_LOG_FORMAT=text, ETUDE_LOG_LEVEL
    try:
        # Checked before anything starts: a busy port is the commonest failure, and its name
        # is what a person needs (a bind error deep in gRPC or uvicorn does not say which).
        busy = _busy_port(args)
        if busy:
            print(f"etude serve {args.which}: error: {busy}", file=sys.stderr)
            return 1
        if args.which == "omr":
            from omr_server.server import serve

            asyncio.run(serve(_omr_settings(args)))  # type: ignore[arg-type]
        elif args.which == "gateway":
            from gateway.server import serve as serve_gateway

            asyncio.run(serve_gateway(_gateway_settings(args)))  # type: ignore[arg-type]
        else:
            asyncio.run(_serve_all(args))
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # one line, never a traceback
        print(f"etude serve {args.which}: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


async def _serve_all(args: argparse.Namespace) -> None:
    from gateway.server import serve as serve_gateway
    from omr_server.server import start_omr_server
    from omr_server.settings import OmrSettings

    omr_settings = _omr_settings(args)
    assert isinstance(omr_settings, OmrSettings)
    handle = await start_omr_server(omr_settings)
    try:
        await handle.wait_ready()
        token = {"omr_token": omr_settings.auth_token} if omr_settings.auth_token else {}
        gateway_settings = _gateway_settings(args, omr_address=handle.address, **token)
        await serve_gateway(gateway_settings)  # type: ignore[arg-type]
    finally:
        await handle.stop()
