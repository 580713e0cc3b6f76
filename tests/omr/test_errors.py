"""The domain error tree (omr_server/errors.py) and its one mapping to gRPC (service.py)."""

from __future__ import annotations

import pickle

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from gateway.omr_client import is_transient
from omr_server.errors import Busy, InvalidInput, LimitExceeded, NotFound, NotReady, OmrError
from omr_server.service import grpc_code, to_status


def _as_call_error(error: OmrError) -> grpc.aio.AioRpcError:
    """What a client of the servicer receives for `error`."""
    status = rpc_status.to_status(to_status(error))
    return grpc.aio.AioRpcError(
        status.code, grpc.aio.Metadata(), grpc.aio.Metadata(*status.trailing_metadata), status.details
    )


@pytest.mark.parametrize(
    ("error", "code", "retried"),
    [
        (InvalidInput("PDF_CORRUPT", "damaged", "pdf_data"), grpc.StatusCode.INVALID_ARGUMENT, False),
        # Input over a limit never fits, however often it is sent (issue 13 #5).
        (
            LimitExceeded("TOO_MANY_STAVES", "907 staves", "pdf_data"),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            False,
        ),
        (LimitExceeded("PAGE_RENDER_TIMEOUT", "slow", "pdf_data"), grpc.StatusCode.RESOURCE_EXHAUSTED, False),
        (Busy("INFERENCE_QUEUE_FULL", "busy"), grpc.StatusCode.RESOURCE_EXHAUSTED, True),
        (NotReady("NOT_READY", "loading"), grpc.StatusCode.UNAVAILABLE, True),
        (NotFound("OBJECT_NOT_FOUND", "gone", "object.uri"), grpc.StatusCode.NOT_FOUND, False),
        (OmrError("INTERNAL", "a bug"), grpc.StatusCode.INTERNAL, False),
    ],
    ids=lambda value: value.reason if isinstance(value, OmrError) else None,
)
def test_each_kind_has_one_code_and_the_gateway_retries_only_load(
    error: OmrError, code: grpc.StatusCode, retried: bool
) -> None:
    assert grpc_code(error) == code
    call_error = _as_call_error(error)
    assert call_error.code() == code and call_error.details() == error.message
    assert is_transient(call_error) is retried


def test_status_details_carry_reason_metadata_and_field() -> None:
    error = LimitExceeded("TOO_MANY_STAVES", "page 0 holds 907 staves", "pdf_data", {"page": "0"})
    status = to_status(error)
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad)
    assert (info.reason, info.domain, dict(info.metadata)) == ("TOO_MANY_STAVES", "omr.etude", {"page": "0"})
    assert [(v.field, v.description) for v in bad.field_violations] == [("pdf_data", error.message)]


def test_errors_cross_a_process_boundary_intact() -> None:
    error = LimitExceeded("PAGE_RENDER_TIMEOUT", "page 3 took too long", "pdf_data", {"page": "3"})
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is LimitExceeded
    assert (copy.reason, copy.message, copy.field, copy.metadata) == (
        error.reason,
        error.message,
        error.field,
        error.metadata,
    )
