"""What an upload is, by its first bytes: a PDF or a page image the OMR server reads.

The gateway only routes and stores; the OMR server decodes (in a killable worker) and refuses a
damaged file. Told by content, not by the declared type, so a JPEG sent as image/png is read.
"""

from __future__ import annotations

import hashlib

from etude.omr.v1 import omr_service_pb2 as omr_pb2
from google.protobuf.message import DecodeError

PDF = "application/pdf"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/tiff", "image/webp")
# Declared types an upload may come with: the content then decides (see sniff()).
UPLOAD_TYPES = frozenset({PDF, "application/octet-stream", "image/jpg", *IMAGE_TYPES})


def sniff(data: bytes) -> str | None:
    """The upload's media type, or None when it is neither a PDF nor a readable image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    # PDF readers accept a header anywhere in the first 1024 bytes.
    if b"%PDF-" in data[:1024]:
        return PDF
    return None


def declared_type(content_type: str) -> str:
    """A Content-Type header's media type, lower case, without parameters."""
    return content_type.split(";")[0].strip().lower()


# Several images uploaded as one document are kept as one object: an etude.omr.v1.ImageFiles
# message, which is also how they go to the OMR server.
IMAGE_FILES = "application/x-protobuf; messageType=etude.omr.v1.ImageFiles"
# What a gRPC client declares when its chunks are a serialized ImageFiles.
BUNDLE_TYPE = "application/x-protobuf"


def bundle(files: list[bytes]) -> bytes:
    return omr_pb2.ImageFiles(files=files).SerializeToString(deterministic=True)


def unbundle(data: bytes) -> list[bytes] | None:
    """The images of a stored bundle, or None when `data` is a single PDF or image."""
    if sniff(data) is not None or data[:1] != b"\x0a":  # field 1, length-delimited
        return None
    try:
        files = list(omr_pb2.ImageFiles.FromString(data).files)
    except DecodeError:
        return None
    return files if files and all(sniff(f) in IMAGE_TYPES for f in files) else None


def bundle_sha256(files: list[bytes]) -> str:
    """What the OMR server reports as the document's sha256 for several images (omr_service.proto)."""
    digests = "".join(hashlib.sha256(data).hexdigest() for data in files)
    return hashlib.sha256(digests.encode()).hexdigest()
