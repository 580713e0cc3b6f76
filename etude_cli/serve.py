"""`etude serve omr|gateway|all`: run the servers until SIGTERM/SIGINT.

`all` runs the OMR server and the gateway in one process, the gateway pointed at the local OMR
server. Settings come from the environment (ETUDE_OMR_*, ETUDE_GATEWAY_*); the options here
override the most common ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("which", choices=["omr", "gateway", "all"], help="what to run")
    parser.add_argument("--host", default=None, help="address to listen on (default from settings)")
    parser.add_argument("--omr-port", type=int, default=None, help="OMR gRPC port")
    parser.add_argument("--metrics-port", type=int, default=None, help="OMR Prometheus port")
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


def run(args: argparse.Namespace) -> int:
    import asyncio

    from observability.logs import configure_logging

    configure_logging()  # JSON lines on stderr; ETUDE_LOG_FORMAT=text, ETUDE_LOG_LEVEL
    try:
        if args.which == "omr":
            from omr_server.server import serve

            asyncio.run(serve(_omr_settings(args)))  # type: ignore[arg-type]
        elif args.which == "gateway":
            from gateway.server import serve as serve_gateway
            from gateway.settings import GatewaySettings

            asyncio.run(serve_gateway(GatewaySettings()))
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
    from gateway.settings import GatewaySettings
    from omr_server.server import start_omr_server
    from omr_server.settings import OmrSettings

    omr_settings = _omr_settings(args)
    assert isinstance(omr_settings, OmrSettings)
    handle = await start_omr_server(omr_settings)
    try:
        await handle.wait_ready()
        gateway_settings = GatewaySettings(
            omr_address=handle.address,
            **({"omr_token": omr_settings.auth_token} if omr_settings.auth_token else {}),  # type: ignore[arg-type]
        )
        await serve_gateway(gateway_settings)
    finally:
        await handle.stop()
