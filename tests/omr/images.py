"""Image files built with Pillow for the image-input tests: pages of engraved music, and hostile
files (truncated, a decompression bomb, a JPEG under a PNG name)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

from tests.omr.pdfs import piano_pages


def encode(page: np.ndarray, fmt: str, *, dpi: float | None = 300, mode: str = "L") -> bytes:
    out = io.BytesIO()
    image = Image.fromarray(page).convert(mode)
    options: dict[str, object] = {"dpi": (dpi, dpi)} if dpi else {}
    if fmt == "JPEG":
        options["quality"] = 90
    image.save(out, fmt, **options)
    return out.getvalue()


def multipage_tiff(pages: Sequence[np.ndarray], *, dpi: float = 300) -> bytes:
    out = io.BytesIO()
    first, *rest = [Image.fromarray(page) for page in pages]
    first.save(out, "TIFF", save_all=True, append_images=rest, dpi=(dpi, dpi), compression="tiff_lzw")
    return out.getvalue()


def piano_png(index: int = 0, **options: object) -> bytes:
    return encode(piano_pages()[index].image, "PNG", **options)  # type: ignore[arg-type]


def truncated_png() -> bytes:
    data = piano_png()
    return data[: len(data) // 2]


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares `width`×`height` pixels (10 G by default)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit gray
    rows = zlib.compress(b"\x00" * 1000)  # far less data than declared
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def bowed(page: np.ndarray, interlines: float, interline_px: float = 21.0) -> np.ndarray:
    """The page with every column shifted down by a half sine: staves bowed by `interlines`."""
    height, width = page.shape
    shifts = np.rint(interlines * interline_px * np.sin(np.linspace(0, np.pi, width))).astype(int)
    out = np.full_like(page, 255)
    for x, shift in enumerate(shifts):
        out[shift:, x] = page[: height - shift, x]
    return out
