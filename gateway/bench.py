"""`etude bench gateway`: what the gateway costs on top of the OMR server, and how many jobs a
minute it completes.

1. direct: RecognizeDocument on the OMR server, one document at a time (the baseline);
2. gateway, one at a time: upload (gRPC CreateJob), follow WatchJob to the end; the difference
   from (1) is the gateway's overhead per job (storage, queue, assembly, round trips);
3. gateway, all at once: `--jobs` uploads in flight together, `--workers` workers; jobs/minute.

The results cache is off so every job really runs. Without `--omr-address` an OMR server is
started in-process (it needs the model). Without `--pdf` the bundled examples/engraved-piano.pdf
is used, or, with `--synthetic`, `--pages` blank pages (good for the gateway's overhead alone).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING

BUNDLED_PDF = Path(__file__).resolve().parent.parent / "examples" / "engraved-piano.pdf"

if TYPE_CHECKING:
    from etude.jobs.v1 import job_service_pb2_grpc as jobs_grpc
    from etude.omr.v1 import omr_service_pb2 as omr_pb2

    from gateway.omr_client import OmrClient


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pdf", type=Path, help=f"the PDF to submit (default: {BUNDLED_PDF.name})")
    parser.add_argument("--synthetic", action="store_true", help="submit blank pages instead of a PDF")
    parser.add_argument("--pages", type=int, default=3, help="pages of the synthetic PDF (default 3)")
    parser.add_argument("--omr-address", help="an OMR server to use (default: start one in-process)")
    parser.add_argument(
        "--jobs", type=int, default=20, help="jobs submitted together in the throughput phase"
    )
    parser.add_argument(
        "--sequential", type=int, default=5, help="documents timed one at a time (phases 1, 2)"
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="gateway workers (jobs processed concurrently)"
    )
    parser.add_argument("--database-url", help="database (default: a temporary SQLite file)")
    parser.add_argument("--dpi", type=int, default=0, help="recognition dpi (0: the server's default)")


def synthetic_pdf(pages: int) -> bytes:
    from PIL import Image, ImageDraw

    images = []
    for index in range(pages):
        image = Image.new("L", (1240, 1754), 255)
        ImageDraw.Draw(image).text((100, 100), f"benchmark page {index + 1}", fill=0)
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=150.0)
    return out.getvalue()


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_bench(args))


async def _bench(args: argparse.Namespace) -> int:
    import grpc
    from etude.jobs.v1 import job_service_pb2 as jobs_pb2
    from etude.jobs.v1 import job_service_pb2_grpc as jobs_grpc
    from etude.omr.v1 import omr_service_pb2 as omr_pb2

    from gateway.omr_client import OmrClient
    from gateway.server import start_gateway
    from gateway.settings import GatewaySettings

    path = None if args.synthetic else (args.pdf or BUNDLED_PDF)
    if path is not None and not path.is_file():
        print(f"etude bench gateway: error: no PDF at {path} (give --pdf or --synthetic)")
        return 2
    pdf = path.read_bytes() if path else synthetic_pdf(args.pages)
    source = str(path) if path else f"synthetic, {args.pages} blank pages"
    options = omr_pb2.RecognitionOptions(dpi=args.dpi)
    omr_handle = None
    address = args.omr_address
    if address is None:
        from omr_server.server import start_omr_server
        from omr_server.settings import OmrSettings

        omr_handle = await start_omr_server(OmrSettings(port=0, metrics_port=None))
        await omr_handle.wait_ready()
        address = omr_handle.address

    with tempfile.TemporaryDirectory(prefix="etude-bench-") as tmp:
        settings = GatewaySettings(
            host="127.0.0.1",
            grpc_port=0,
            http_port=0,
            omr_address=address,
            database_url=args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            object_store_url=str(Path(tmp) / "objects"),
            tokens={},
            workers=args.workers,
            poll_seconds=0.05,
            watch_poll_seconds=0.05,
            results_cache=False,
        )
        gateway = await start_gateway(settings)
        direct = OmrClient(address)
        try:
            # Warm both paths once (model warm-up, connections, SQLite file).
            pages = await _direct(direct, pdf, options)
            async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
                stub = jobs_grpc.JobServiceStub(channel)
                await _via_gateway(stub, pdf, options)

                direct_s = [await _timed(_direct(direct, pdf, options)) for _ in range(args.sequential)]
                gateway_s = [await _timed(_via_gateway(stub, pdf, options)) for _ in range(args.sequential)]
                started = time.perf_counter()
                states = await asyncio.gather(*(_via_gateway(stub, pdf, options) for _ in range(args.jobs)))
                wall = time.perf_counter() - started
        finally:
            await direct.close()
            await gateway.stop(grace=1)
            if omr_handle is not None:
                await omr_handle.stop(grace=1)

    completed = sum(1 for s in states if s == jobs_pb2.JOB_STATE_OMR_COMPLETED)
    d, g = statistics.median(direct_s), statistics.median(gateway_s)
    print(f"document: {source}; {pages} pages; {len(pdf) / 1024:.0f} KiB; OMR server {address}")
    print(f"direct OMR call, median of {args.sequential}:     {d * 1000:8.1f} ms per document")
    print(f"through the gateway, median of {args.sequential}: {g * 1000:8.1f} ms per job")
    print(
        f"gateway overhead:                    {(g - d) * 1000:8.1f} ms per job ({(g - d) / d * 100:.0f}%)"
        f", {(g - d) / max(pages, 1) * 1000:.1f} ms per page"
    )
    print(
        f"throughput: {completed}/{args.jobs} jobs completed in {wall:.1f} s with {args.workers} workers"
        f" = {completed / wall * 60:.1f} jobs/minute ({completed * pages / wall:.1f} pages/s)"
    )
    return 0 if completed == args.jobs else 1


async def _timed(work: Awaitable[object]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


async def _direct(client: OmrClient, pdf: bytes, options: omr_pb2.RecognitionOptions) -> int:
    pages = 0
    async for message in client.recognize(pdf, options):
        pages += message.WhichOneof("event") == "page"
    return pages


async def _via_gateway(
    stub: jobs_grpc.JobServiceStub, pdf: bytes, options: omr_pb2.RecognitionOptions
) -> int:
    from etude.jobs.v1 import job_service_pb2 as jobs_pb2

    chunk = 256 * 1024
    requests = [jobs_pb2.CreateJobRequest(metadata=jobs_pb2.CreateJobMetadata(options=options))]
    requests += [jobs_pb2.CreateJobRequest(chunk=pdf[i : i + chunk]) for i in range(0, len(pdf), chunk)]
    job = (await stub.CreateJob(iter(requests))).job
    last = job
    async for event in stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.id)):
        last = event.job
    if last.state != jobs_pb2.JOB_STATE_OMR_COMPLETED:
        print(f"job {last.id} ended {jobs_pb2.JobState.Name(last.state)}: {last.error}")
    return int(last.state)
