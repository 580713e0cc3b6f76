"""A stand-in OMR server for the gateway's failure tests: the real OmrService protocol over real
gRPC on loopback, run as a subprocess so a test can kill -9 it mid-document and start it again.

It reads the PDF's page count with pypdfium2 (page images: one page each, a TIFF's frames each
one) and answers every page with a small, valid fragment made by tests/ir/factories (two
measures, a few notes), after `--page-delay` seconds, so the gateway's streaming, resuming,
assembling and exporting are exercised without waiting for the neural model. Each request it
serves is appended to `--log` as one JSON line.

    python -m tests.gateway.omr_double --port 50999 --page-delay 0.2 --log /tmp/omr.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pypdfium2
from etude.ir.v1 import score_pb2
from etude.omr.v1 import omr_service_pb2 as omr_pb2
from etude.omr.v1 import omr_service_pb2_grpc as omr_grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway import media
from tests.ir.factories import IrBuilder

MODEL = score_pb2.ModelInfo(name="omr-double", version="1", sha256="0" * 64)


def page_fragment(index: int) -> score_pb2.PageFragment:
    b = IrBuilder(page_index=index, id_prefix=f"p{index}-")
    b.measure()
    b.note("C5", at=0, type="half")
    b.note("E5", at=2, type="half")
    b.note("C3", at=0, type="whole", staff=2)
    b.measure(system_index=1)
    b.chord(["G4", "B4"], at=0, type="whole")
    b.rest(at=0, type="whole", staff=2, full_measure=True)
    return b.fragment()


def bad_request(message: str) -> grpc.Status:
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field="pdf_data", description=message)
            ]
        )
    )
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail])
    )


def _frames(image: bytes) -> int:
    """The pages of one image, as the OMR server counts them: a TIFF's frames, else 1."""
    from PIL import Image

    with Image.open(io.BytesIO(image)) as opened:
        return int(getattr(opened, "n_frames", 1)) if opened.format == "TIFF" else 1


class OmrDouble(omr_grpc.OmrServiceServicer):
    def __init__(self, page_delay: float, log: Path | None) -> None:
        self.page_delay = page_delay
        self.log = log

    async def GetServiceInfo(self, request: Any, context: Any) -> omr_pb2.GetServiceInfoResponse:
        return omr_pb2.GetServiceInfoResponse(service_version="double-1", model=MODEL, default_dpi=150)

    async def RecognizeDocument(
        self, request: omr_pb2.RecognizeDocumentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[omr_pb2.RecognizeDocumentResponse]:
        if request.WhichOneof("source") == "images":
            # Several page images: one page each (what they show does not matter here).
            page_count = len(request.images.files)
            sha256 = media.bundle_sha256(list(request.images.files))
        elif media.sniff(request.pdf_data) in media.IMAGE_TYPES:
            page_count, sha256 = _frames(request.pdf_data), hashlib.sha256(request.pdf_data).hexdigest()
        else:
            try:
                document = pypdfium2.PdfDocument(request.pdf_data)
                page_count = len(document)
                document.close()
            except pypdfium2.PdfiumError as error:
                status = bad_request(f"not a readable PDF: {error}")
                await context.abort(status.code, status.details, status.trailing_metadata)
                return
            sha256 = hashlib.sha256(request.pdf_data).hexdigest()
        first = request.options.first_page
        limit = request.options.page_limit or page_count
        count = max(0, min(limit, page_count - first))
        if self.log:
            with self.log.open("a") as out:
                out.write(json.dumps({"first_page": first, "page_limit": request.options.page_limit}) + "\n")
        yield omr_pb2.RecognizeDocumentResponse(
            header=omr_pb2.DocumentHeader(
                page_count=page_count,
                first_page=first,
                pages_to_read=count,
                dpi=request.options.dpi or 150,
                pdf_sha256=sha256,
                model=MODEL,
                service_version="double-1",
            )
        )
        for index in range(first, first + count):
            await asyncio.sleep(self.page_delay)
            yield omr_pb2.RecognizeDocumentResponse(page=page_fragment(index))
        yield omr_pb2.RecognizeDocumentResponse(summary=omr_pb2.DocumentSummary(pages_read=count))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--page-delay", type=float, default=0.0)
    parser.add_argument("--log", type=Path)
    args = parser.parse_args()
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)])
    omr_grpc.add_OmrServiceServicer_to_server(OmrDouble(args.page_delay, args.log), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
