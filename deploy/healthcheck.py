"""Container health check: asks a server's gRPC health service whether it is SERVING.

    python deploy/healthcheck.py 127.0.0.1:50051            # overall health ("" service)
    python deploy/healthcheck.py 127.0.0.1:50051 etude.omr.v1.OmrService

Exit status 0 when SERVING, 1 otherwise (not serving, unreachable, or too slow), with one line
on stderr saying why; Docker and Compose read only the status. Needs nothing beyond what the
images already hold (grpcio and grpcio-health-checking), so no probe binary is downloaded.
"""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(address: str, service: str = "", timeout: float = 3.0) -> tuple[bool, str]:
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            return False, f"{address}: {error.code().name} {error.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{address}: {status}"


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print("usage: healthcheck.py HOST:PORT [SERVICE]", file=sys.stderr)
        return 2
    serving, message = check(argv[0], argv[1] if len(argv) > 1 else "")
    print(message, file=sys.stderr)
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
