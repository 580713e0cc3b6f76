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


def ink_mask(image: np.ndarray) -> np.ndarray:
    """True where there is ink. A blank page (one gray level) has no ink."""
    if int(image.max()) - int(image.min()) < 32:
        return np.zeros(image.shape, dtype=bool)
    return image <= otsu_threshold(image)
