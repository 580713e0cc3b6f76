"""Find and remove page skew: the angle that makes ink rows sharpest in the row projection.

Shearing ink coordinates (y - x·tan θ) and histogramming them is a cheap stand-in for rotating
the image: staff lines collapse into tall, narrow peaks at the right angle. A coarse search
is refined around its best angle; the image is rotated only when the skew is visible.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

MAX_SKEW_DEGREES = 5.0
_NEGLIGIBLE_DEGREES = 0.05


def estimate_skew(ink: np.ndarray) -> float:
    """Skew in degrees (counter-clockwise positive, as PIL rotates) of the ink's horizontal lines."""
    ys, xs = np.nonzero(ink[:, ::8])
    if len(ys) < 1000:
        return 0.0
    columns = xs.astype(np.float64) * 8
    rows_at = ys.astype(np.float64)
    height = ink.shape[0]

    def sharpness(degrees: float) -> float:
        rows = np.rint(rows_at - columns * np.tan(np.radians(degrees))).astype(np.int64)
        counts = np.bincount(rows - rows.min(), minlength=height)
        return float(np.dot(counts, counts))

    best = max(np.arange(-MAX_SKEW_DEGREES, MAX_SKEW_DEGREES + 1e-9, 0.25), key=sharpness)
    best = max(np.arange(best - 0.25, best + 0.25 + 1e-9, 0.025), key=sharpness)
    # A pixel row sheared by +θ lies on a line that the page shows at -θ (image y grows downward).
    return -float(best)


def deskew(image: np.ndarray, skew_degrees: float) -> np.ndarray:
    """The page rotated so its lines are level; corners filled with paper."""
    if abs(skew_degrees) < _NEGLIGIBLE_DEGREES:
        return image
    rotated = Image.fromarray(image).rotate(
        -skew_degrees, resample=Image.Resampling.BILINEAR, fillcolor=255, expand=False
    )
    return np.asarray(rotated)
