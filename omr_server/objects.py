"""The service's object references: a PDF named by a `file://` URI under the configured root."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from omr_server.errors import NotFound, invalid
from omr_server.pages.validate import sha256_hex


def read_object(uri: str, expected_sha256: str, file_root: Path | None) -> bytes:
    """The PDF an ObjectReference names; only file:// URIs under the configured root are read."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise invalid(
            "OBJECT_SCHEME_UNSUPPORTED",
            f"this server cannot fetch {parsed.scheme or 'scheme-less'} object references; send pdf_data",
            field="object.uri",
        )
    if file_root is None:
        raise invalid(
            "OBJECT_READS_DISABLED", "this server does not read files; send pdf_data", field="object.uri"
        )
    path = Path(unquote(parsed.path)).resolve()
    root = file_root.resolve()
    if not path.is_relative_to(root):
        raise invalid("OBJECT_OUTSIDE_ROOT", f"{uri} is outside the server's file root", field="object.uri")
    if not path.is_file():
        raise NotFound("OBJECT_NOT_FOUND", f"{uri} does not exist", "object.uri")
    data = path.read_bytes()
    if expected_sha256 and sha256_hex(data) != expected_sha256.lower():
        raise invalid(
            "OBJECT_SHA256_MISMATCH", f"{uri} does not have the expected sha256", field="object.sha256"
        )
    return data
