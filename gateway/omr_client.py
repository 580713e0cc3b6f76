"""Calling the OMR servers: one grpc.aio channel (keepalive, round-robin over several servers),
deadlines on every call, and the split between errors worth retrying and errors that are final."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import AsyncIterator

import grpc
from etude.omr.v1 import omr_service_pb2 as omr_pb2
from etude.omr.v1 import omr_service_pb2_grpc as omr_grpc
from google.rpc import error_details_pb2, status_pb2

from gateway import media
from observability.grpc_ids import JOB_ID_KEY, REQUEST_ID_KEY
from observability.logs import JOB_ID, REQUEST_ID, new_request_id

# Worth another try: the server is down, slow or busy. Everything else is the request's fault
# (or a bug) and fails the job at once with the server's reason.
TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


def channel_target(address: str) -> str:
    """`host:port` as is; a comma list becomes one `ipv4:` target that round_robin spreads over."""
    addresses = [a.strip() for a in address.split(",") if a.strip()]
    if not addresses:
        raise ValueError("no OMR server address given")
    if len(addresses) == 1:
        return addresses[0]
    resolved = []
    for item in addresses:
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"OMR address {item!r} is not host:port")
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            host = socket.gethostbyname(host)
        resolved.append(f"{host}:{port}")
    return "ipv4:" + ",".join(resolved)


def is_transient(error: BaseException) -> bool:
    if not isinstance(error, grpc.aio.AioRpcError):
        return False
    if error.code() not in TRANSIENT_CODES:
        return False
    # RESOURCE_EXHAUSTED naming a request field is an input limit (too many pages…), not load.
    if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        status = rich_status(error)
        return status is None or not any(
            d.Is(error_details_pb2.BadRequest.DESCRIPTOR) for d in status.details
        )
    return True


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def describe(error: grpc.aio.AioRpcError) -> str:
    """The server's reason, one line: code, message, ErrorInfo reason, offending fields."""
    text = f"OMR server: {error.code().name}: {error.details()}"
    status = rich_status(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            text += f" [{info.reason}]"
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            text += "".join(f" (field {v.field})" for v in bad.field_violations)
    return text


class OmrClient:
    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        deadline_seconds: float = 900.0,
        info_deadline_seconds: float = 10.0,
    ) -> None:
        self.address = address
        service_config: dict[str, object] = {"loadBalancingConfig": [{"round_robin": {}}]}
        self._channel = grpc.aio.insecure_channel(
            channel_target(address),
            options=[
                ("grpc.service_config", json.dumps(service_config)),
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.keepalive_timeout_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.max_pings_without_data", 0),
                # Reconnect quickly after an OMR server restarts (defaults back off up to 120 s).
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 2_000),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self._stub = omr_grpc.OmrServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.deadline_seconds = deadline_seconds
        self.info_deadline_seconds = info_deadline_seconds

    def _call_metadata(self) -> tuple[tuple[str, str], ...]:
        """Auth, plus the ids that let the OMR server's log lines be matched with ours."""
        ids = [(REQUEST_ID_KEY, REQUEST_ID.get() or new_request_id())]
        job_id = JOB_ID.get()
        if job_id:
            ids.append((JOB_ID_KEY, job_id))
        return (*self._metadata, *ids)

    async def service_info(self) -> omr_pb2.GetServiceInfoResponse:
        response: omr_pb2.GetServiceInfoResponse = await self._stub.GetServiceInfo(
            omr_pb2.GetServiceInfoRequest(),
            timeout=self.info_deadline_seconds,
            metadata=self._call_metadata(),
            wait_for_ready=True,
        )
        return response

    async def recognize(
        self, pdf: bytes, options: omr_pb2.RecognitionOptions, file_name: str = ""
    ) -> AsyncIterator[omr_pb2.RecognizeDocumentResponse]:
        # Several images stored as one bundle (gateway.media) go as the request's `images`.
        images = media.unbundle(pdf)
        if images is not None:
            request = omr_pb2.RecognizeDocumentRequest(
                images=omr_pb2.ImageFiles(files=images), options=options, file_name=file_name
            )
        else:
            request = omr_pb2.RecognizeDocumentRequest(pdf_data=pdf, options=options, file_name=file_name)
        call = self._stub.RecognizeDocument(
            request, timeout=self.deadline_seconds, metadata=self._call_metadata()
        )
        try:
            async for response in call:
                yield response
        finally:
            call.cancel()

    async def close(self) -> None:
        await self._channel.close()
