"""Hostile inputs for the OMR server: a few hundred malformed and adversarial PDFs and images.

Each `Case` names its input, builds it here (nothing is committed), and says which outcomes are
acceptable: `expect` lists the ErrorInfo reasons (or "OK") a clear answer may carry; None means
any clear answer (OK, INVALID_ARGUMENT or RESOURCE_EXHAUSTED) will do, as for a random byte flip.
`fast` marks the subset that runs in the normal test suite.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial

from PIL import Image

from tests.hostile.pdfbuild import assemble, one_page, stream

OK = "OK"


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    expect: frozenset[str] | None = None
    fast: bool = False
    media_type: str = ""  # RecognizeDocumentRequest.media_type: "" lets the server tell by content


def _expect(*reasons: str) -> frozenset[str]:
    return frozenset(reasons)


# --- building blocks -------------------------------------------------------------------------


def staff_content(staves: int = 2, *, top: float = 760, gap: float = 60, width: float = 500) -> bytes:
    """Vector staves (five lines, 7 pt apart) with a few filled noteheads and barlines."""
    ops = [b"0.8 w"]
    for s in range(staves):
        y0 = top - s * gap
        for line in range(5):
            y = y0 - line * 7
            ops.append(b"50 %.1f m %.1f %.1f l S" % (y, 50 + width, y))
        for bar in range(5):
            x = 50 + bar * width / 4
            ops.append(b"%.1f %.1f m %.1f %.1f l S" % (x, y0, x, y0 - 28))
        for k in range(12):
            x, y = 80 + k * 38, y0 - 3.5 * (k % 8)
            ops.append(b"%.1f %.1f 5 4 re f" % (x, y - 2))
            ops.append(b"%.1f %.1f m %.1f %.1f l S" % (x + 5, y, x + 5, y + 20))
    return b"\n".join(ops)


def staff_pdf(staves: int = 2) -> bytes:
    """A small, valid one-page PDF that the mutations start from."""
    return one_page(staff_content(staves))


def form_fanout_pdf(levels: int = 7, fanout: int = 10) -> bytes:
    """A page drawing form 1, which draws form 2 `fanout` times, …: fanout**levels draws."""
    forms = []
    first = 5
    for level in range(levels):
        number = first + level
        if level == levels - 1:
            body = b"0 0 m 10 10 l S 0 0 5 5 re f"
            resources = b"<< >>"
        else:
            body = b" ".join(b"q 1 0 0 1 %d 0 cm /F Do Q" % k for k in range(fanout))
            resources = b"<< /XObject << /F %d 0 R >> >>" % (number + 1)
        forms.append(
            stream(b"/Type /XObject /Subtype /Form /BBox [0 0 600 900] /Resources " + resources, body)
        )
    return one_page(b"/F Do", resources=b"<< /XObject << /F 5 0 R >> >>", extra_objects=forms)


def self_form_pdf(draws: int = 10) -> bytes:
    """A form that draws itself `draws` times (PDFium's recursion guard is all that stops it)."""
    body = b" ".join(b"q 0.9 0 0 0.9 1 1 cm /F Do Q" for _ in range(draws)) + b" 0 0 m 5 5 l S"
    form = stream(
        b"/Type /XObject /Subtype /Form /BBox [0 0 600 900] /Resources << /XObject << /F 5 0 R >> >>", body
    )
    return one_page(b"/F Do", resources=b"<< /XObject << /F 5 0 R >> >>", extra_objects=[form])


def many_segments_pdf(segments: int = 2_000_000) -> bytes:
    """A content stream of `segments` line segments (compresses to a few hundred KB)."""
    rng = random.Random(7)
    parts = [b"0.1 w 10 10 m"]
    parts += [b"%d %d l" % (rng.randrange(595), rng.randrange(842)) for _ in range(segments)]
    parts.append(b"S")
    return one_page(b"\n".join(parts))


@cache  # compressing the pixels of a huge image takes seconds; several tests use the same one
def image_pdf(width: int, height: int, *, media_box: bytes = b"[0 0 595 842]") -> bytes:
    """One page filled by a width×height 8-bit gray image of white (compresses ~1000:1)."""
    row = b"\xff" * width
    data = zlib.compress(row * height, 9)
    image = (
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
        % (width, height, len(data))
        + data
        + b"\nendstream"
    )
    return one_page(
        b"q 595 0 0 842 0 0 cm /Im Do Q",
        resources=b"<< /XObject << /Im 5 0 R >> >>",
        media_box=media_box,
        extra_objects=[image],
    )


def tall_staves_pdf(staves: int = 907, width_pt: float = 240, height_pt: float = 9600) -> bytes:
    """A very tall page packed with staves (the 907-staves, 40 Mpx page of issue 13)."""
    gap = (height_pt - 20) / staves
    ops = [b"0.5 w"]
    for s in range(staves):
        y0 = height_pt - 10 - s * gap
        for line in range(5):
            y = y0 - line * gap / 6
            ops.append(b"10 %.2f m %.1f %.2f l S" % (y, width_pt - 10, y))
    box = b"[0 0 %g %g]" % (width_pt, height_pt)
    return one_page(b"\n".join(ops), media_box=box)


def line_grid_pdf(step_pt: float = 1.2) -> bytes:
    """Horizontal lines every `step_pt` (every 5 px at 300 dpi): the staff finder sees ~136 staves."""
    count = int(820 / step_pt)
    ops = [b"0.5 w"] + [
        b"20 %.2f m 575 %.2f l S" % (10 + i * step_pt, 10 + i * step_pt) for i in range(count)
    ]
    return one_page(b"\n".join(ops))


def page_tree_pdf(kids: bytes, count: int = 2, extra: list[bytes] | None = None) -> bytes:
    """Catalog (1), Pages (2) with `kids`, one good page (3) and its content (4), `extra` after."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids %s /Count %d >>" % (kids, count),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        stream(b"", staff_content(1)),
        *(extra or []),
    ]
    return assemble(objects)


def png_bytes(width: int = 64, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 200).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("L", (64, 64), 200).save(out, format="JPEG")
    return out.getvalue()


def png_claiming(width: int, height: int, *, bits: int = 1) -> bytes:
    """A tiny PNG whose header declares width×height pixels: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )


def tiff_frames(frames: int, size: int = 32) -> bytes:
    out = io.BytesIO()
    pages = [Image.new("L", (size, size), 255) for _ in range(frames)]
    pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:])
    return out.getvalue()


def image_cases() -> Iterator[Case]:
    """Page images: bombs, truncations, wrong types; the same discipline as PDFs."""
    png = png_bytes(600, 800)
    yield Case("image_png_blank", lambda: png, _expect(OK), fast=True, media_type="image/png")
    yield Case("image_png_sniffed", lambda: png, _expect(OK))
    yield Case("image_jpeg_as_png", jpeg_bytes, _expect(OK), fast=True, media_type="image/png")
    yield Case(
        "image_bomb_100000_square",
        lambda: png_claiming(100_000, 100_000),
        _expect("IMAGE_TOO_LARGE"),
        fast=True,
    )
    yield Case("image_bomb_12000_square", lambda: png_claiming(12_000, 12_000), _expect("IMAGE_TOO_LARGE"))
    yield Case(
        "image_zero_size", lambda: png_claiming(0, 0), _expect("IMAGE_CORRUPT", "NOT_AN_IMAGE"), fast=True
    )
    yield Case("image_text_as_png", lambda: b"hello\n" * 100, _expect("NOT_AN_IMAGE"), media_type="image/png")
    yield Case(
        "image_gif", lambda: b"GIF89a" + bytes(100), _expect("UNSUPPORTED_MEDIA_TYPE"), media_type="image/gif"
    )
    yield Case("image_tiff_300_frames", lambda: tiff_frames(300), _expect("TOO_MANY_PAGES"), fast=True)
    for keep in (0.1, 0.5, 0.9):
        yield Case(
            f"image_png_truncated_{keep}",
            partial(truncated, png, keep),
            _expect("IMAGE_CORRUPT"),
            fast=keep == 0.5,
            media_type="image/png",
        )
    for seed in range(20):
        yield Case(
            f"image_flip_{seed}", partial(flipped, png, seed, 1 + seed % 5), None, media_type="image/png"
        )


def embedded_jpeg_pdf(data: bytes, width: int = 64, height: int = 64) -> bytes:
    image = stream(
        b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
        b"/Filter /DCTDecode" % (width, height),
        data,
    )
    return one_page(
        b"q 500 0 0 500 50 150 cm /Im Do Q",
        resources=b"<< /XObject << /Im 5 0 R >> >>",
        extra_objects=[image],
    )


def encrypted_pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        b"<< /Filter /Standard /V 1 /R 2 /P -4 /O <" + b"ab" * 32 + b"> /U <" + b"cd" * 32 + b"> >>",
    ]
    return assemble(
        objects, trailer_extra=b"/Encrypt 4 0 R /ID [<" + b"01" * 16 + b"> <" + b"01" * 16 + b">]"
    )


def javascript_pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R /AcroForm << /Fields [] >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /AA << /O 5 0 R >> >>",
        stream(b"", staff_content(2)),
        b"<< /S /JavaScript /JS (while(true){app.alert('x');}) >>",
    ]
    return assemble(objects)


# --- mutations of a valid PDF -----------------------------------------------------------------


def truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def truncated_keep_eof(data: bytes, keep: float) -> bytes:
    """Cut the middle out but keep a trailer, so only parsing can tell."""
    return data[: int(len(data) * keep)] + b"\n%%EOF\n"


def flipped(data: bytes, seed: int, flips: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(flips):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def xref_damaged(data: bytes, mode: str) -> bytes:
    xref = data.rindex(b"xref\n")
    start = data.rindex(b"startxref\n") + len(b"startxref\n")
    if mode == "startxref_wrong":
        return data[:start] + b"%d\n%%%%EOF\n" % (xref + 37)
    if mode == "startxref_huge":
        return data[:start] + b"99999999999999999999\n%%EOF\n"
    if mode == "startxref_negative":
        return data[:start] + b"-5\n%%EOF\n"
    if mode == "offsets_wrong":
        return data[:xref] + data[xref:].replace(b"0000000", b"9999999")
    if mode == "no_xref":
        return data[:xref] + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    if mode == "xref_count_huge":
        return data.replace(b"xref\n0 ", b"xref\n0 2147483647 ", 1)
    if mode == "root_missing":
        return data.replace(b"/Root 1 0 R", b"/Root 99 0 R")
    if mode == "trailer_loop":
        return data.replace(b"/Root 1 0 R", b"/Root 1 0 R /Prev %d" % xref)
    raise ValueError(mode)


# --- the cases --------------------------------------------------------------------------------

# A page that overruns its budget is stopped: by the clock, or by the memory cap (PDFium aborts).
_DRAW_BUDGET = _expect("PAGE_RENDER_TIMEOUT", "PAGE_RENDER_ABORTED", OK)
_CORRUPT = _expect("PDF_CORRUPT", "PDF_NO_PAGES", "PDF_TRUNCATED", "NOT_A_PDF", OK)


def cases() -> Iterator[Case]:
    """Every case, the regression cases of issue 13 first."""
    base = staff_pdf()
    # Issue 13 #1: draws that never end hold PDFium; the page's budget ends them.
    yield Case("form_fanout_10x7", lambda: form_fanout_pdf(7, 10), _DRAW_BUDGET, fast=True)
    yield Case("form_self_recursion", lambda: self_form_pdf(10), _DRAW_BUDGET, fast=True)
    yield Case("segments_2M", lambda: many_segments_pdf(2_000_000), _DRAW_BUDGET)
    # #5: more staves than can ever be queued: a permanent limit, not "busy".
    yield Case("tall_907_staves", lambda: tall_staves_pdf(), _expect("TOO_MANY_STAVES"), fast=True)
    # #6: page-tree damage.
    yield Case("kids_integer_42", lambda: page_tree_pdf(b"[3 0 R 42]"), _expect("PDF_CORRUPT"), fast=True)
    yield Case(
        "page_tree_cycle",
        lambda: page_tree_pdf(b"[3 0 R 2 0 R]"),  # the page tree lists itself as its second kid
        _expect("PDF_CORRUPT"),
        fast=True,
    )
    yield Case("kids_not_array", lambda: page_tree_pdf(b"42", 1), _CORRUPT, fast=True)
    yield Case("kids_null", lambda: page_tree_pdf(b"[null null]"), _CORRUPT)
    yield Case("kid_is_catalog", lambda: page_tree_pdf(b"[3 0 R 1 0 R]"), _CORRUPT)
    yield Case("count_negative", lambda: page_tree_pdf(b"[3 0 R]", -5), _CORRUPT)
    yield Case("count_huge", lambda: page_tree_pdf(b"[3 0 R]", 2**31 - 1), _CORRUPT | {"TOO_MANY_PAGES"})
    # #7: cost: a huge embedded image, a page of lines every 5 px.
    yield Case("image_30000x30000", lambda: image_pdf(30000, 30000), _expect("IMAGE_TOO_LARGE"), fast=True)
    yield Case("image_12000x12000", lambda: image_pdf(12000, 12000), _expect("IMAGE_TOO_LARGE", OK))
    yield Case("lines_every_5px", line_grid_pdf, _expect("TOO_MANY_STAVES"), fast=True)
    # Huge pages.
    yield Case(
        "page_14400pt_square",
        lambda: one_page(b"", media_box=b"[0 0 14400 14400]"),
        _expect("PAGE_TOO_LARGE"),
        fast=True,
    )
    yield Case(
        "page_zero_area",
        lambda: one_page(b"", media_box=b"[0 0 0 0]"),
        _expect("PDF_BAD_PAGE_SIZE", OK, "PDF_CORRUPT"),
        fast=True,
    )
    yield Case("page_negative_box", lambda: one_page(b"", media_box=b"[0 0 -595 -842]"), None)
    yield Case("page_nan_box", lambda: one_page(b"", media_box=b"[0 0 1e308 1e308]"), None, fast=True)
    yield Case(
        "many_pages_300",
        lambda: assemble(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [%s] /Count 300 >>" % b" ".join(b"3 0 R" for _ in range(300)),
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
            ]
        ),
        _expect("TOO_MANY_PAGES"),
        fast=True,
    )
    # Encrypted, scripts.
    yield Case("encrypted", encrypted_pdf, _expect("PDF_ENCRYPTED"), fast=True)
    yield Case("javascript_open_action", javascript_pdf, _expect(OK), fast=True)
    # Wrong types and wrong files.
    yield Case("empty", lambda: b"", _expect("EMPTY_INPUT"), fast=True)
    yield Case("png_not_pdf", png_bytes, _expect("NOT_A_PDF"), fast=True, media_type="application/pdf")
    yield Case("jpeg_not_pdf", jpeg_bytes, _expect("NOT_A_PDF"), media_type="application/pdf")
    yield from image_cases()
    yield Case("text_not_pdf", lambda: b"hello\n" * 100, _expect("NOT_A_PDF"))
    yield Case("header_only", lambda: b"%PDF-1.7\n%%EOF\n", _CORRUPT, fast=True)
    yield Case(
        "contents_integer",
        lambda: one_page(b"").replace(b"/Contents 4 0 R", b"/Contents 42"),
        None,
        fast=True,
    )
    yield Case("mediabox_string", lambda: one_page(b"", media_box=b"(A4)"), None)
    yield Case("resources_integer", lambda: one_page(b"/Im Do", resources=b"7"), None)
    yield Case(
        "xobject_not_stream",
        lambda: one_page(b"/F Do", resources=b"<< /XObject << /F 5 0 R >> >>", extra_objects=[b"42"]),
        None,
    )
    yield Case("garbage_jpeg", lambda: embedded_jpeg_pdf(bytes(range(256)) * 20), None, fast=True)
    yield Case(
        "jpeg_claims_huge", lambda: embedded_jpeg_pdf(jpeg_bytes(), 60000, 60000), _expect("IMAGE_TOO_LARGE")
    )
    yield Case(
        "image_16bit_short_data",
        lambda: one_page(
            b"q 500 0 0 500 50 150 cm /Im Do Q",
            resources=b"<< /XObject << /Im 5 0 R >> >>",
            extra_objects=[
                stream(
                    b"/Type /XObject /Subtype /Image /Width 5000 /Height 5000 /ColorSpace /DeviceRGB "
                    b"/BitsPerComponent 16",
                    b"\x00" * 100,
                )
            ],
        ),
        None,
    )
    yield Case(
        "deep_array_nesting",
        lambda: one_page(b"").replace(b"/Resources << >>", b"/Resources " + b"[" * 100_000 + b"]" * 100_000),
        None,
        fast=True,
    )
    yield Case(
        "deep_dict_nesting",
        lambda: one_page(b"").replace(
            b"/Resources << >>", b"/Resources " + b"<< /A " * 20_000 + b"1" + b" >>" * 20_000
        ),
        None,
    )
    yield Case("content_stream_bomb", lambda: one_page(b"q " * 500_000 + b"Q " * 500_000), None, fast=True)
    # Mutations of a valid PDF: truncations, byte flips, xref damage.
    for keep in (0.1, 0.3, 0.5, 0.7, 0.9, 0.97, 0.99):
        yield Case(f"truncated_{keep}", partial(truncated, base, keep), _CORRUPT, fast=keep == 0.5)
        yield Case(
            f"truncated_keep_eof_{keep}",
            partial(truncated_keep_eof, base, keep),
            _CORRUPT,
            fast=keep == 0.7,
        )
    for mode in (
        "startxref_wrong",
        "startxref_huge",
        "startxref_negative",
        "offsets_wrong",
        "no_xref",
        "xref_count_huge",
        "root_missing",
        "trailer_loop",
    ):
        yield Case(
            f"xref_{mode}",
            partial(xref_damaged, base, mode),
            _CORRUPT,
            fast=mode in ("no_xref", "trailer_loop"),
        )
    for seed in range(200):
        flips = 1 + seed % 20
        yield Case(
            f"flip_{seed}_{flips}",
            partial(flipped, base, seed, flips),
            None,
            fast=seed < 4,
        )
    fanout = form_fanout_pdf(4, 6)
    for seed in range(40):
        yield Case(f"flip_fanout_{seed}", partial(flipped, fanout, seed, 3), None)
