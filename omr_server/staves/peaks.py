"""`find_peaks(x, height=, distance=)`: scipy.signal.find_peaks for the two conditions staff
detection uses, in numpy alone.

Importing scipy.signal takes 1.5-3 s (it pulls in scipy.stats, interpolate and optimize); the
PDF worker's forkserver pays for that before it can fork the first worker, so it delayed every
command's first page. This is scipy's algorithm step for step (local maxima with plateaus at
their left-rounded middle, then the height floor, then the distance rule, highest peak first in
the order np.argsort gives), so the peaks are the same: tests/cli/test_cli_speed.py compares the
two on random and plateau-rich inputs.
"""

from __future__ import annotations

import math

import numpy as np


def find_peaks(x: np.ndarray, *, height: float, distance: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Indices of the peaks of the 1-D `x` at least `height` tall and `distance` apart, and
    (as scipy returns) their heights."""
    if distance < 1:
        raise ValueError("`distance` must be greater or equal to 1")
    values = np.ascontiguousarray(x, dtype=np.float64)
    peaks = _local_maxima(values)
    peaks = peaks[values[peaks] >= height]
    peaks = peaks[_keep_by_distance(peaks, values[peaks], math.ceil(distance))]
    return peaks, {"peak_heights": values[peaks]}


def _local_maxima(x: np.ndarray) -> np.ndarray:
    """Samples higher than both neighbours; of a flat top, its middle (rounded left)."""
    rises = np.flatnonzero(x[1:-1] > x[:-2]) + 1 if x.size > 2 else np.empty(0, np.intp)
    peaks: list[int] = []
    last = x.size - 1
    i = 0
    for start in rises.tolist():  # scipy walks left to right and skips past each plateau it takes
        if start < i:
            continue
        ahead = start + 1
        while ahead < last and x[ahead] == x[start]:
            ahead += 1
        if x[ahead] < x[start]:
            peaks.append((start + ahead - 1) // 2)
            i = ahead
    return np.asarray(peaks, dtype=np.intp)


def _keep_by_distance(peaks: np.ndarray, priority: np.ndarray, distance: int) -> np.ndarray:
    keep = np.ones(peaks.size, dtype=bool)
    for j in np.argsort(priority)[::-1]:
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and peaks[j] - peaks[k] < distance:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < peaks.size and peaks[k] - peaks[j] < distance:
            keep[k] = False
            k += 1
    return keep
