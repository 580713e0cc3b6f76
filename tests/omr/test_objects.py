"""ObjectReference reading: file:// under the configured root only, sha256 checked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import grpc
import pytest

from omr_server.errors import OmrError
from omr_server.objects import read_object
from omr_server.service import grpc_code
from recognition.loader import model_digest


def test_file_under_root_is_read_and_checked(tmp_path: Path) -> None:
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(b"%PDF-1.4 hello")
    digest = hashlib.sha256(b"%PDF-1.4 hello").hexdigest()
    assert read_object(pdf.as_uri(), digest, tmp_path) == b"%PDF-1.4 hello"
    assert read_object(pdf.as_uri(), "", tmp_path) == b"%PDF-1.4 hello"
    with pytest.raises(OmrError) as wrong:
        read_object(pdf.as_uri(), "0" * 64, tmp_path)
    assert wrong.value.reason == "OBJECT_SHA256_MISMATCH"


@pytest.mark.parametrize(
    ("uri", "root", "reason", "code"),
    [
        ("s3://bucket/key.pdf", "root", "OBJECT_SCHEME_UNSUPPORTED", grpc.StatusCode.INVALID_ARGUMENT),
        ("file:///etc/passwd", "root", "OBJECT_OUTSIDE_ROOT", grpc.StatusCode.INVALID_ARGUMENT),
        ("file:///etc/passwd", None, "OBJECT_READS_DISABLED", grpc.StatusCode.INVALID_ARGUMENT),
        ("missing", "root", "OBJECT_NOT_FOUND", grpc.StatusCode.NOT_FOUND),
    ],
)
def test_refused_references(
    tmp_path: Path, uri: str, root: str | None, reason: str, code: grpc.StatusCode
) -> None:
    if uri == "missing":
        uri = (tmp_path / "nope.pdf").as_uri()
    with pytest.raises(OmrError) as caught:
        read_object(uri, "", tmp_path if root else None)
    assert (caught.value.reason, grpc_code(caught.value)) == (reason, code)


def test_model_digest_is_stable_and_order_free() -> None:
    one = model_digest({"a.onnx": "11", "b.onnx": "22"})
    assert one == model_digest({"b.onnx": "22", "a.onnx": "11"}) and len(one) == 64
    assert one != model_digest({"a.onnx": "11", "b.onnx": "23"})
