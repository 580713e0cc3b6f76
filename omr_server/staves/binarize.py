"""Gray page → ink mask, with a global Otsu threshold (robust to gray paper and faded scans)."""

from __future__ import annotations

import numpy as np


def otsu_threshold(image: np.ndarray) -> int:
    histogram = np.bincount(image[::2, ::2].ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    weight_dark = np.cumsum(histogram)
    weight_light = weight_dark[-1] - weight_dark
    sum_dark = np.cumsum(histogram * levels)
    mean_dark = sum_dark / np.maximum(weight_dark, 1)
    mean_light = (sum_dark[-1] - sum_dark) / np.maximum(weight_light, 1)
    between = weight_dark * weight_light * (mean_dark - mean_light) ** 2
    return int(np.argmax(between))


def paper_level(image: np.ndarray) -> int:
    """The most common gray level: the paper."""
    return int(np.argmax(np.bincount(image[::4, ::4].ravel(), minlength=256)))


def ink_mask(image: np.ndarray) -> np.ndarray:
    """True where there is ink. A blank page (one gray level) has no ink.

    The cut sits halfway between Otsu's threshold and the paper: thin lines drawn at low dpi
    come out gray (anti-aliased), and must still count as ink.
    """
    if int(image.max()) - int(image.min()) < 32:
        return np.zeros(image.shape, dtype=bool)
    otsu = otsu_threshold(image)
    paper = max(paper_level(image), otsu)
    return image <= (otsu + paper) // 2
