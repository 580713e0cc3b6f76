"""What a request's bytes are: a PDF or an image file, from its media type or its first bytes.

Imports nothing heavy: the pipeline asks this in the server process; Pillow decodes only in the
request's worker (pages/images.py).
"""

from __future__ import annotations

from omr_server.errors import invalid

PDF_MEDIA_TYPE = "application/pdf"
# Pillow format names → the media type each is known by.
IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff", "WEBP": "image/webp"}
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/tif": "image/tiff",
}
_SNIFFED = "application/octet-stream"  # "" and this: the content decides


def is_image_bytes(data: bytes) -> bool:
    """Whether `data` starts like one of the image formats read here."""
    return (
        data.startswith(b"\x89PNG\r\n\x1a\n")
        or data.startswith(b"\xff\xd8\xff")
        or data[:4] in (b"II*\x00", b"MM\x00*")
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def document_kind(media_type: str, first_file: bytes) -> str:
    """ "pdf" or "image" for a request's media type; "" or application/octet-stream: by content."""
    kind = media_type.split(";")[0].strip().lower()
    kind = _ALIASES.get(kind, kind)
    if kind in ("", _SNIFFED):
        return "image" if is_image_bytes(first_file) else "pdf"
    if kind == PDF_MEDIA_TYPE:
        return "pdf"
    if kind in IMAGE_FORMATS.values() or kind == "image/*":
        return "image"
    supported = ", ".join([PDF_MEDIA_TYPE, *IMAGE_FORMATS.values()])
    raise invalid(
        "UNSUPPORTED_MEDIA_TYPE",
        f"media type {media_type!r} is not read here; send one of {supported}",
        field="media_type",
    )
