"""What keeps `etude transcribe`'s start-up short: the early forkserver preloads what the worker
asks for, and staff detection's numpy find_peaks (no scipy.signal import) finds scipy's peaks."""

from __future__ import annotations

import multiprocessing.forkserver

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.signal import find_peaks as scipy_find_peaks

from omr_server.staves.peaks import find_peaks

# Few distinct levels: plateaus, ties between peaks and flat tops at the edges are common.
_SIGNALS = arrays(np.float64, st.integers(0, 80), elements=st.integers(0, 4).map(float))


@settings(max_examples=400, deadline=None)
@given(_SIGNALS, st.integers(0, 4).map(float), st.floats(1.0, 9.0))
def test_find_peaks_is_scipys(x: np.ndarray, height: float, distance: float) -> None:
    expected, properties = scipy_find_peaks(x, height=height, distance=distance)
    got, heights = find_peaks(x, height=height, distance=distance)
    assert got.tolist() == expected.tolist()
    assert heights["peak_heights"].tolist() == properties["peak_heights"].tolist()


def test_find_peaks_on_a_staff_like_projection() -> None:
    rng = np.random.default_rng(7)
    projection = rng.normal(0, 3, 3000)
    projection[np.arange(100, 2900, 17)] += 400  # line-like spikes every 17 px
    for distance in (2, 10.2, 16):
        expected, _ = scipy_find_peaks(projection, height=200, distance=distance)
        assert find_peaks(projection, height=200, distance=distance)[0].tolist() == expected.tolist()


def test_forkserver_preload_matches_the_worker() -> None:
    """The early start (omr_server.pages.forkserver) must preload what the worker module asks for,
    or the forkserver it starts would make every page import staff detection again."""
    from omr_server.pages import forkserver, worker
    from omr_server.staves import lines

    assert lines.find_peaks is find_peaks

    asked = multiprocessing.forkserver._forkserver._preload_modules  # type: ignore[attr-defined]
    assert worker.__name__ in forkserver.PRELOAD
    assert sorted(asked) == sorted(forkserver.PRELOAD)
