"""Image files → page images: PNG, JPEG, TIFF (every frame a page) and WebP, decoded with Pillow.

Runs in the request's worker process (pages/worker.py), like PDFium, so a hostile file costs a
killable child its time and memory budget, never the server. The checks mirror the PDF ones:
bytes, format, pixel budget of every selected page and a full decode of each, all before the
first page is laid out, so a bad file fails before streaming starts.

Resolution: pages are read at the request's dpi (300 by default). An image that states a
plausible dpi is resampled from it; one that states none (or a camera's placeholder 72 dpi on a
photo many feet wide) is resampled so that its staff spacing is what a 7 mm staff has at 300 dpi
(TYPICAL_INTERLINE_PX, the engraving standard "rastral 3"), measured on the page itself; an image
without measurable staff lines is read at its own size.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from omr_server.errors import invalid, over_limit
from omr_server.pages.media import IMAGE_FORMATS
from omr_server.pages.validate import PageSelection, PdfLimits, select_pages
from omr_server.staves.binarize import ink_mask
from omr_server.staves.metrics import estimate_metrics

BASE_DPI = 300
TYPICAL_INTERLINE_PX = 21.0  # a 7 mm staff at 300 dpi: 1.75 mm per line-to-line step
_PLAUSIBLE_LONG_SIDE_INCHES = (3.0, 24.0)  # a stated dpi outside this page size is ignored
_RESAMPLE_TOLERANCE = 0.15  # scales closer to 1 than this keep the pixels as they are
_SCALE_RANGE = (0.2, 4.0)  # what a measured staff spacing may do to a page


@dataclass(frozen=True)
class ImagePage:
    """One page of an image document: frame `frame` of file `file_index`."""

    file_index: int
    frame: int
    width: int
    height: int
    dpi: float | None  # stated and plausible, else None


@dataclass(frozen=True)
class ImageDocument:
    files: tuple[bytes, ...]
    pages: tuple[ImagePage, ...]


def _name(file_index: int, count: int) -> str:
    return "the image" if count == 1 else f"image {file_index + 1}"


def _open(data: bytes, file_index: int, count: int, max_pixels: int) -> Image.Image:
    """Pillow's header parse, restricted to the formats read here; a bomb is refused unread."""
    name = _name(file_index, count)
    if not data:
        raise invalid("EMPTY_INPUT", f"{name} holds no bytes", file=str(file_index))
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own bomb check, at open, agrees with ours
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise over_limit(
            "IMAGE_TOO_LARGE",
            f"{name} declares more pixels than the limit of {max_pixels} per image "
            "(a decompression bomb, or a scan at too high a resolution)",
            file=str(file_index),
            limit=str(max_pixels),
        ) from None
    except UnidentifiedImageError:
        hint = "; it is a PDF: send it as application/pdf" if b"%PDF-" in data[:1024] else ""
        raise invalid(
            "NOT_AN_IMAGE", f"{name} is not a PNG, JPEG, TIFF or WebP image{hint}", file=str(file_index)
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # header damage
        raise invalid("IMAGE_CORRUPT", f"{name} cannot be read: {error}", file=str(file_index)) from None


def _stated_dpi(image: Image.Image, width: int, height: int) -> float | None:
    dpi = image.info.get("dpi")
    try:
        value = float(dpi[0]) if isinstance(dpi, tuple) else None
    except (TypeError, ValueError):
        return None
    if not value or value <= 0:
        return None
    long_side = max(width, height) / value
    low, high = _PLAUSIBLE_LONG_SIDE_INCHES
    return value if low <= long_side <= high else None


def open_images(
    files: Sequence[bytes],
    first_page: int,
    page_limit: int,
    dpi: int,
    limits: PdfLimits,
    max_image_pixels: int,
) -> tuple[ImageDocument, PageSelection]:
    """Parse every file, count its pages and check each selected page's size and full decode."""
    total = sum(len(data) for data in files)
    if not files:
        raise invalid("EMPTY_INPUT", "the request holds no image")
    if total > limits.max_bytes:
        raise over_limit(
            "INPUT_TOO_LARGE",
            f"the images are {total} bytes, over the limit of {limits.max_bytes} bytes",
            size=str(total),
            limit=str(limits.max_bytes),
        )
    pages: list[ImagePage] = []
    for file_index, data in enumerate(files):
        image = _open(data, file_index, len(files), max_image_pixels)
        # Only TIFF frames are pages; an animated PNG or WebP is read at its first frame.
        frames = getattr(image, "n_frames", 1) if image.format == "TIFF" else 1
        if len(pages) + frames > limits.max_pages:
            raise over_limit(
                "TOO_MANY_PAGES",
                f"the images hold more than the limit of {limits.max_pages} pages",
                pages=str(len(pages) + frames),
                limit=str(limits.max_pages),
            )
        for frame in range(frames):
            image.seek(frame)
            width, height = image.size
            pages.append(ImagePage(file_index, frame, width, height, _stated_dpi(image, width, height)))
    selection = select_pages(len(pages), first_page, page_limit)
    document = ImageDocument(tuple(files), tuple(pages))
    for index in selection.indices:
        _check_pixels(document, index, max_image_pixels)
        page = document.pages[index]
        if page.dpi is not None:  # the size it is read at is known before decoding
            _check_budget(
                index, page.width, page.height, dpi / page.dpi, page.dpi, dpi, limits.max_page_pixels
            )
        decode_page(document, index, max_image_pixels)  # truncation and damage show only here
    return document, selection


def _check_pixels(document: ImageDocument, index: int, max_pixels: int) -> None:
    page = document.pages[index]
    if page.width <= 0 or page.height <= 0:
        raise invalid("IMAGE_CORRUPT", f"page {index + 1} has no area ({page.width}x{page.height} px)")
    if page.width * page.height > max_pixels:
        raise over_limit(
            "IMAGE_TOO_LARGE",
            f"page {index + 1} is a {page.width}x{page.height} image, over the limit of "
            f"{max_pixels} pixels per image",
            page=str(index),
            pixels=str(page.width * page.height),
            limit=str(max_pixels),
        )


def decode_page(document: ImageDocument, index: int, max_pixels: int) -> np.ndarray:
    """Page `index` as it is stored, upright, in gray (uint8, 255 = paper; transparency is paper)."""
    page = document.pages[index]
    image = _open(document.files[page.file_index], page.file_index, len(document.files), max_pixels)
    try:
        image.seek(page.frame)
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        return _gray(upright)
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # truncated or damaged data
        raise invalid(
            "IMAGE_CORRUPT",
            f"page {index + 1} ({_name(page.file_index, len(document.files))}) cannot be decoded: {error}",
            page=str(index),
        ) from None


def _gray(image: Image.Image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # deep gray: stretch to 8 bits
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        return np.ascontiguousarray(((values - low) * (255 / max(high - low, 1e-9))).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("L"), dtype=np.uint8))


def page_scale(page: ImagePage, gray: np.ndarray, dpi: int) -> float:
    """How much to resample a page to read it at `dpi` (see the module docstring)."""
    if page.dpi is not None:
        return dpi / page.dpi
    metrics = estimate_metrics(ink_mask(gray))
    if metrics is None:
        return 1.0
    low, high = _SCALE_RANGE
    return min(high, max(low, TYPICAL_INTERLINE_PX * dpi / BASE_DPI / metrics.interline))


def _check_budget(
    index: int, width: int, height: int, scale: float, stated: float, dpi: int, max_pixels: int
) -> None:
    pixels = round(width * scale) * round(height * scale)
    if pixels > max_pixels:
        raise over_limit(
            "PAGE_TOO_LARGE",
            f"page {index + 1} would be {round(width * scale)}x{round(height * scale)} px at {dpi} dpi "
            f"(the image states {stated:g} dpi), over the budget of {max_pixels} px per page; "
            "use a lower dpi",
            field="options.dpi",
            page=str(index),
            pixels=str(pixels),
            limit=str(max_pixels),
        )


def page_image(
    document: ImageDocument, index: int, dpi: int, max_image_pixels: int, max_page_pixels: int
) -> np.ndarray:
    """Page `index` decoded and resampled to `dpi`, within the per-page pixel budget."""
    gray = decode_page(document, index, max_image_pixels)
    scale = page_scale(document.pages[index], gray, dpi)
    height, width = gray.shape
    stated = document.pages[index].dpi
    if stated is not None:
        _check_budget(index, width, height, scale, stated, dpi, max_page_pixels)
    # A measured scale only shrinks to fit the budget: the page's own size was within it.
    scale = min(scale, (max_page_pixels / (width * height)) ** 0.5)
    if abs(scale - 1) < _RESAMPLE_TOLERANCE:
        return gray
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(gray).resize(
        size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
    )
    return np.asarray(resized)
