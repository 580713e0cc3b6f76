"""Small real PDFs for tests, made with Pillow (blank or lined pages; no music needed by the
layers that only move bytes)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def blank_pdf(pages: int = 2, *, size: tuple[int, int] = (200, 260), label: str = "") -> bytes:
    images = []
    for index in range(pages):
        image = Image.new("L", size, 255)
        ImageDraw.Draw(image).text((10, 10), f"{label} page {index + 1}", fill=0)
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=72.0)
    return out.getvalue()
