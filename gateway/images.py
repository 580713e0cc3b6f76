"""What the web page needs of an uploaded image that a browser cannot draw: how many frames it
holds (a TIFF's frames are pages) and a PNG of one frame.

Decoding is Pillow's, with the OMR server's guards (omr_server/pages/images.py, which the gateway
may not import): only the formats Étude reads, Pillow's bomb check at open raised to an error
and every frame's size checked against the pixel limit before its data is decoded. Callers run
these functions in a thread: they are CPU work.
"""

from __future__ import annotations

import io
import warnings
from typing import cast

from PIL import Image, ImageOps, UnidentifiedImageError

from gateway.errors import InvalidArgumentError, NotFoundError, TooLargeError

# Pillow's format names of the images an upload may be (gateway.media.IMAGE_TYPES).
FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")
_DEEP_GRAY = ("I", "I;16", "I;16B", "I;16L", "F")  # no 8-bit rendering: stretched to L
_PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Pillow's header parse; a decompression bomb is refused before any pixel is decoded."""
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own check at open agrees with ours
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(max_pixels) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidArgumentError(
            f"the stored file cannot be read as an image: {error}", reason="IMAGE_CORRUPT"
        ) from None


def _too_large(max_pixels: int) -> TooLargeError:
    return TooLargeError(
        f"the image has more pixels than the limit of {max_pixels} per image", reason="IMAGE_TOO_LARGE"
    )


def _frames(image: Image.Image) -> int:
    # Only TIFF frames are pages (as the OMR server reads them); an animated PNG or WebP is its first.
    return int(getattr(image, "n_frames", 1)) if image.format == "TIFF" else 1


def frame_count(data: bytes, max_pixels: int) -> int:
    """How many pages the image holds: a TIFF's frames, else 1. Reads headers only."""
    with _open(data, max_pixels) as image:
        return _frames(image)


def _displayable(image: Image.Image) -> Image.Image:
    """The frame in a mode PNG holds and browsers draw: deep gray stretched to 8 bits (as the
    OMR server reads it), CMYK and the like as RGB."""
    if image.mode in _DEEP_GRAY:
        wide = image.convert("F")
        low, high = cast(tuple[float, float], wide.getextrema())  # one band: (min, max)
        scale = 255 / max(high - low, 1e-9)
        return wide.point(lambda value: (value - low) * scale).convert("L")
    return image if image.mode in _PNG_MODES else image.convert("RGB")


def frame_png(data: bytes, frame: int, max_pixels: int) -> tuple[bytes, int]:
    """Frame `frame` (0-based) as a PNG, upright as the OMR server reads it, and the frame count."""
    with _open(data, max_pixels) as image:
        frames = _frames(image)
        if frame >= frames:
            raise NotFoundError(
                f"the file holds {frames} frame{'' if frames == 1 else 's'}; there is no frame {frame}",
                reason="NO_SUCH_FRAME",
                field="frame",
            )
        try:
            image.seek(frame)
            width, height = image.size
            if width * height > max_pixels:  # Pillow checks the first frame only, at open
                raise _too_large(max_pixels)
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            out = io.BytesIO()
            _displayable(upright).save(out, "PNG", compress_level=1)  # fast: it is sent, not kept
        except (OSError, SyntaxError, ValueError, EOFError) as error:  # truncated or damaged data
            raise InvalidArgumentError(
                f"frame {frame} of the stored file cannot be decoded: {error}", reason="IMAGE_CORRUPT"
            ) from None
    return out.getvalue(), frames
