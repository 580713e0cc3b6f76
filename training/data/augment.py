"""Scan-like degradation of an engraved page (before cropping, at page resolution)."""

from __future__ import annotations

import io
import math
import random

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage


def _warp(page: np.ndarray, rng: random.Random, space: float) -> np.ndarray:
    """Gentle smooth vertical displacement along the width (paper not flat on the scanner)."""
    h, w = page.shape
    amp = rng.uniform(0.05, 0.35) * space
    period = rng.uniform(0.5, 2.0) * w
    phase = rng.uniform(0, 2 * math.pi)
    shift = amp * np.sin(2 * math.pi * np.arange(w) / period + phase)
    rows = np.arange(h)[:, None] - shift[None, :]
    cols = np.broadcast_to(np.arange(w)[None, :], (h, w))
    return ndimage.map_coordinates(page, [rows, cols], order=1, cval=255).astype(np.uint8)


def degrade(page: np.ndarray, rng: random.Random, space: float, strength: float) -> np.ndarray:
    """`strength` 0 keeps a clean digital engraving; 1 looks like a poor old scan."""
    if strength <= 0:
        return page
    img = page.astype(np.float32)
    if rng.random() < 0.3 * strength:
        img = _warp(img.astype(np.uint8), rng, space).astype(np.float32)
    if rng.random() < 0.5 * strength:  # ink bleed or thinning
        size = 2 if space > 12 else 1
        if size > 1:
            img = (
                ndimage.grey_erosion(img, size=(size, size))
                if rng.random() < 0.6
                else ndimage.grey_dilation(img, size=(size, size))
            )
    if rng.random() < 0.7 * strength:
        img = ndimage.gaussian_filter(img, sigma=rng.uniform(0.3, 1.2) * space / 12)
    # paper tone and uneven illumination
    if rng.random() < 0.8 * strength:
        h, w = img.shape
        low = rng.uniform(180, 250)
        ink = rng.uniform(0, 70)
        grad = np.linspace(rng.uniform(-15, 15), rng.uniform(-15, 15), w, dtype=np.float32)[None, :]
        img = ink + (img / 255.0) * (low - ink) + grad
    if rng.random() < 0.8 * strength:
        img = img + np.random.default_rng(rng.randrange(2**32)).normal(
            0, rng.uniform(3, 25), img.shape
        ).astype(np.float32)
    if rng.random() < 0.3 * strength:  # salt and pepper specks
        noise = np.random.default_rng(rng.randrange(2**32)).random(img.shape)
        img[noise < 0.002 * strength] = 40
        img[noise > 1 - 0.002 * strength] = 255
    img = np.clip(img, 0, 255)
    if rng.random() < 0.25 * strength:  # binarised scan
        img = np.where(img < rng.uniform(110, 170), 0.0, 255.0)
    out = img.astype(np.uint8)
    if rng.random() < 0.3 * strength:  # down- and up-sampling
        h, w = out.shape
        f = rng.uniform(0.5, 0.85)
        small = Image.fromarray(out).resize(
            (max(1, int(w * f)), max(1, int(h * f))), Image.Resampling.BILINEAR
        )
        out = np.asarray(small.resize((w, h), Image.Resampling.BILINEAR))
    if rng.random() < 0.4 * strength:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=rng.randint(15, 75))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    if rng.random() < 0.2 * strength:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.UnsharpMask(radius=2, percent=80)))
    return np.ascontiguousarray(out)


def rotate(page: np.ndarray, degrees: float) -> np.ndarray:
    return np.asarray(
        Image.fromarray(page).rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=255)
    )
