"""gateway/images.py on its own: PNG renditions of uploaded images (the web page's view of a TIFF)
keep to the pixel limit and draw modes PNG or browsers lack."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gateway import images
from gateway.errors import InvalidArgumentError, NotFoundError, TooLargeError


def _tiff(*frames: Image.Image) -> bytes:
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=list(frames[1:]))
    return out.getvalue()


def _drawn(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image


def test_frames_over_the_pixel_limit_are_refused_undecoded() -> None:
    small, large = Image.new("L", (10, 10), 255), Image.new("L", (100, 100), 255)
    assert images.frame_count(_tiff(small, large), max_pixels=1_000) == 2
    with pytest.raises(TooLargeError):  # the first frame, by Pillow's check at open
        images.frame_png(_tiff(large, small), 1, max_pixels=1_000)
    with pytest.raises(TooLargeError):  # a later frame, by ours before it is decoded
        images.frame_png(_tiff(small, large), 1, max_pixels=1_000)
    assert _drawn(images.frame_png(_tiff(small, large), 0, max_pixels=1_000)[0]).size == (10, 10)
    with pytest.raises(NotFoundError):
        images.frame_png(_tiff(small, large), 2, max_pixels=1_000)
    with pytest.raises(InvalidArgumentError):
        images.frame_png(b"II*\x00" + b"\x00" * 20, 0, max_pixels=1_000)


def test_deep_gray_and_cmyk_are_drawn_in_eight_bits() -> None:
    ramp = np.tile(np.linspace(1000, 3000, 16, dtype=np.uint16), (4, 1))
    deep = Image.fromarray(ramp)
    assert deep.mode == "I;16"
    gray = np.asarray(_drawn(images.frame_png(_tiff(deep), 0, 10_000)[0]).convert("L"))
    assert gray.min() == 0 and gray.max() == 255 and (np.diff(gray[0].astype(int)) > 0).all()
    cmyk = Image.new("CMYK", (8, 8), (0, 0, 0, 255))  # black ink
    drawn = _drawn(images.frame_png(_tiff(cmyk), 0, 10_000)[0])
    assert drawn.mode == "RGB" and drawn.getpixel((0, 0)) == (0, 0, 0)
