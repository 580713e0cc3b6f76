"""A tiny PDF writer for hostile inputs: objects as bytes, a correct xref, nothing checked."""

from __future__ import annotations

import zlib


def stream(dictionary: bytes, data: bytes, *, compress: bool = False) -> bytes:
    """A stream object body; `dictionary` is the inside of << >> without /Length."""
    if compress:
        data = zlib.compress(data, 9)
        dictionary += b" /Filter /FlateDecode"
    return b"<< %s /Length %d >>\nstream\n" % (dictionary, len(data)) + data + b"\nendstream"


def assemble(objects: list[bytes], *, root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """Objects numbered from 1 in order, an xref table and a trailer naming `root`."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        trailer_extra,
        xref,
    )
    return bytes(out)


def one_page(
    content: bytes,
    *,
    resources: bytes = b"<< >>",
    media_box: bytes = b"[0 0 595 842]",
    extra_objects: list[bytes] | None = None,
    compress: bool = True,
) -> bytes:
    """Catalog (1), Pages (2), Page (3), its content stream (4), then `extra_objects` (5, 6 …)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox %s /Resources %s /Contents 4 0 R >>"
        % (media_box, resources),
        stream(b"", content, compress=compress),
        *(extra_objects or []),
    ]
    return assemble(objects)
