"""Errors a request can end with, each naming its problem for people and for programs.

A `RequestError` carries a gRPC status code, a stable machine-readable `reason`
(google.rpc.ErrorInfo) and, for bad input, the offending request field
(google.rpc.BadRequest). The servicer turns it into a rich status; `etude transcribe`
prints its message on one line.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

ERROR_DOMAIN = "omr.etude"


class RequestError(Exception):
    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        *,
        field: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.field = field
        self.metadata = metadata or {}

    def to_status(self) -> status_pb2.Status:
        """The google.rpc.Status for `grpc_status.rpc_status.to_status`."""
        details = []
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata)
        details.append(_pack(info))
        if self.field is not None:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=self.field, description=self.message
            )
            details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
        return status_pb2.Status(code=_CODES[self.code], message=self.message, details=details)


def invalid(reason: str, message: str, *, field: str = "pdf_data", **metadata: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, reason, message, field=field, metadata=metadata)


def exhausted(reason: str, message: str, *, field: str | None = None, **metadata: str) -> RequestError:
    return RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, reason, message, field=field, metadata=metadata)


def _pack(message: error_details_pb2.ErrorInfo | error_details_pb2.BadRequest) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


_CODES: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: code_pb2.RESOURCE_EXHAUSTED,
    grpc.StatusCode.NOT_FOUND: code_pb2.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION: code_pb2.FAILED_PRECONDITION,
    grpc.StatusCode.UNAVAILABLE: code_pb2.UNAVAILABLE,
    grpc.StatusCode.UNAUTHENTICATED: code_pb2.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED: code_pb2.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL: code_pb2.INTERNAL,
    grpc.StatusCode.DEADLINE_EXCEEDED: code_pb2.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED: code_pb2.CANCELLED,
}
