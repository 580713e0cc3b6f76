"""Errors the gateway answers with, one type per outcome; gRPC and REST each map them their way
(a status with google.rpc details, or an application/problem+json body)."""

from __future__ import annotations

import grpc


class GatewayError(Exception):
    grpc_code = grpc.StatusCode.INTERNAL
    http_status = 500
    title = "Internal error"

    def __init__(self, message: str, *, reason: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or type(self).__name__.removesuffix("Error").upper()
        self.field = field


class InvalidArgumentError(GatewayError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400
    title = "Bad request"


class UnsupportedMediaTypeError(InvalidArgumentError):
    http_status = 415
    title = "Unsupported media type"


class TooLargeError(GatewayError):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 413
    title = "Content too large"


class NotFoundError(GatewayError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404
    title = "Not found"


class ConflictError(GatewayError):
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409
    title = "Conflict"


class UnauthenticatedError(GatewayError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401
    title = "Unauthenticated"


class UnavailableError(GatewayError):
    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503
    title = "Service unavailable"


class TooManyRequestsError(GatewayError):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429
    title = "Too many requests"
