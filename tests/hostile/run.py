"""Run hostile inputs against a real OMR server over loopback gRPC and print a summary.

    ./uvw run python -m tests.hostile.run            # every case (a few hundred, minutes)
    ./uvw run python -m tests.hostile.run --fast     # the subset the test suite runs
    ./uvw run python -m tests.hostile.run -k flip    # the cases whose name contains "flip"

Each case must end with a clear status (OK, INVALID_ARGUMENT or RESOURCE_EXHAUSTED with an
ErrorInfo reason: never UNKNOWN or INTERNAL), within its time bound, and health must still
answer SERVING right after it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass

import grpc
from etude.omr.v1 import omr_service_pb2, omr_service_pb2_grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from omr_server.server import OmrServerHandle, start_omr_server
from omr_server.settings import OmrSettings
from tests.hostile.generate import OK, Case, cases

# The budget a case may take: a page budget (settings below) plus its own inference, with room
# for a loaded CI machine.
PAGE_SECONDS = 4.0
CASE_SECONDS = 45.0
HEALTH_SECONDS = 2.0
CLEAR_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED})


def hostile_settings(model_dir: object, **overrides: object) -> OmrSettings:
    values: dict[str, object] = {
        "port": 0,
        "metrics_port": None,
        "model_dir": model_dir,
        "max_pages": 20,
        "max_pdf_bytes": 20_000_000,
        "max_page_seconds": PAGE_SECONDS,
        "max_page_memory_mb": 1024,
        "drain_seconds": 1.0,
    }
    values.update(overrides)
    return OmrSettings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Outcome:
    case: str
    code: str
    reason: str
    seconds: float
    healthy: bool
    problem: str  # empty when the case passed


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


async def recognize(
    channel: grpc.aio.Channel, pdf: bytes, timeout: float, media_type: str = ""
) -> tuple[str, str, str]:
    """(code, reason, message) of one RecognizeDocument call read to its end."""
    stub = omr_service_pb2_grpc.OmrServiceStub(channel)
    request = omr_service_pb2.RecognizeDocumentRequest(
        pdf_data=pdf, file_name="hostile.pdf", media_type=media_type
    )
    try:
        async for _ in stub.RecognizeDocument(request, timeout=timeout):
            pass
    except grpc.aio.AioRpcError as error:
        return error.code().name, _reason(error), error.details() or ""
    return OK, OK, ""


async def healthy(channel: grpc.aio.Channel) -> bool:
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=HEALTH_SECONDS)
    except grpc.aio.AioRpcError:
        return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


async def check_case(channel: grpc.aio.Channel, case: Case) -> Outcome:
    pdf = case.build()
    started = time.perf_counter()
    # A health check in the middle of the case, too: the event loop must never wait on PDFium.
    health_during = asyncio.create_task(_health_after(channel, 0.3))
    code, reason, message = await recognize(channel, pdf, CASE_SECONDS + 15, case.media_type)
    seconds = time.perf_counter() - started
    during = await health_during
    after = await healthy(channel)
    problems = []
    if code != OK and grpc.StatusCode[code] not in CLEAR_CODES:
        problems.append(f"status {code} ({message!r}) is not a clear answer")
    elif code != OK and not reason:
        problems.append(f"{code} carries no ErrorInfo reason")
    if case.expect is not None and reason not in case.expect:
        problems.append(f"reason {reason or code} not in {sorted(case.expect)}")
    if seconds > CASE_SECONDS:
        problems.append(f"took {seconds:.1f} s (bound {CASE_SECONDS:g} s)")
    if not (during and after):
        problems.append("health did not answer SERVING " + ("afterwards" if during else "during the call"))
    return Outcome(case.name, code, reason, seconds, during and after, "; ".join(problems))


async def _health_after(channel: grpc.aio.Channel, delay: float) -> bool:
    await asyncio.sleep(delay)
    return await healthy(channel)


async def start(settings: OmrSettings) -> OmrServerHandle:
    handle = await start_omr_server(settings)
    await handle.wait_ready()
    return handle


async def run_all(selected: list[Case]) -> list[Outcome]:
    handle = await start(hostile_settings(OmrSettings().model_dir))
    outcomes = []
    try:
        async with grpc.aio.insecure_channel(
            handle.address, options=[("grpc.max_send_message_length", 64_000_000)]
        ) as channel:
            for case in selected:
                outcome = await check_case(channel, case)
                mark = "FAIL" if outcome.problem else "ok"
                print(
                    f"{mark:4} {case.name:32} {outcome.reason or outcome.code:24} {outcome.seconds:6.2f} s"
                    + (f"  {outcome.problem}" if outcome.problem else ""),
                    flush=True,
                )
                outcomes.append(outcome)
    finally:
        await handle.stop(0)
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hostile.run", description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="only the subset the test suite runs")
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    args = parser.parse_args()
    selected = [c for c in cases() if (c.fast or not args.fast) and args.k in c.name]
    started = time.perf_counter()
    outcomes = asyncio.run(run_all(selected))
    failed = [o for o in outcomes if o.problem]
    by_reason: dict[str, int] = {}
    for outcome in outcomes:
        by_reason[outcome.reason or outcome.code] = by_reason.get(outcome.reason or outcome.code, 0) + 1
    slowest = max(outcomes, key=lambda o: o.seconds, default=None)
    print(f"\n{len(outcomes)} cases in {time.perf_counter() - started:.0f} s, {len(failed)} failed")
    print("outcomes: " + ", ".join(f"{reason} {n}" for reason, n in sorted(by_reason.items())))
    if slowest is not None:
        print(f"slowest: {slowest.case} {slowest.seconds:.1f} s")
    for outcome in failed:
        print(f"FAILED {outcome.case}: {outcome.problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
