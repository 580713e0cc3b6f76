"""Small PDFs for the OMR tests: good ones (engraved music), and every kind of bad one."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageDraw

from tests.omr.engraving import EngravedPage, engraved_pages, images_to_pdf, piano_kern


@cache
def piano_pages(measures: int = 60) -> tuple[EngravedPage, ...]:
    return tuple(engraved_pages(piano_kern(measures)))


def piano_pdf(measures: int = 60) -> bytes:
    """An engraved grand-staff piece: 40 measures fill one page, 60 make two (14 + 6 staves)."""
    return images_to_pdf([page.image for page in piano_pages(measures)])


def text_page_pdf() -> bytes:
    """One A4 page of prose, no music."""
    image = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(image)
    for row in range(60):
        draw.text(
            (200, 200 + row * 50), "Lorem ipsum dolor sit amet, consectetur adipiscing elit " * 2, fill=0
        )
    return images_to_pdf([np.asarray(image)])


def blank_pdf(width_pt: float = 595, height_pt: float = 842, pages: int = 1) -> bytes:
    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(width_pt, height_pt)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zero_page_pdf() -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    return _assemble(objects, b"<< /Size 3 /Root 1 0 R >>")


def _assemble(objects: list[bytes], trailer: bytes) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def encrypted_pdf() -> bytes:
    """A PDF under the standard security handler whose user password is not empty."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        b"<< /Filter /Standard /V 1 /R 2 /P -4 /O <" + b"ab" * 32 + b"> /U <" + b"cd" * 32 + b"> >>",
    ]
    trailer = b"<< /Size 5 /Root 1 0 R /Encrypt 4 0 R /ID [<" + b"01" * 16 + b"> <" + b"01" * 16 + b">] >>"
    return _assemble(objects, trailer)


def corrupt_pdf() -> bytes:
    """Header and trailer look fine; the body is not PDF at all."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
