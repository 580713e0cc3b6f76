"""`crop_column` / `page_column`: where a page column lands in a `crop_staff` crop, and back."""

import itertools

import numpy as np
import pytest

from recognition.crop import crop_column, crop_staff, page_column


def page_with_staff_and_tick(top: int, space: int, left: int, right: int, tick: int) -> np.ndarray:
    page = np.full((1200, 1000), 255, np.uint8)
    for k in range(5):
        page[top + k * space, left:right] = 0
    page[top - 3 * space : top + 7 * space, tick] = 0  # a one-pixel vertical line
    return page


def ink_column(crop: np.ndarray, rows: slice) -> float:
    """Ink-weighted centre column of a band of rows (away from the staff lines)."""
    profile = crop[rows].sum(axis=0)
    peak = int(profile.argmax())
    window = np.arange(max(peak - 4, 0), min(peak + 5, len(profile)))
    return float((profile[window] * window).sum() / profile[window].sum())


@pytest.mark.parametrize(
    ("space", "top", "left", "right", "tick", "height", "max_width"),
    [
        (20, 300, 100, 899, 457, 96, None),
        (13, 301.4, 120.6, 880.2, 300, 96, None),
        (9, 250.2, 50.3, 950.7, 713, 128, None),
        (20, 300, 100, 899, 611, 96, 300),  # squeezed horizontally
        (26, 200.8, 10.5, 990.1, 15, 64, 400),
    ],
)
def test_crop_column_finds_a_drawn_line(space, top, left, right, tick, height, max_width):
    page = page_with_staff_and_tick(round(top), space, round(left), round(right), tick)
    bottom = top + 4 * space
    crop = crop_staff(page, top, bottom, left, right, height=height, max_width=max_width)
    found = ink_column(crop, slice(2, height // 4))  # above the staff: only the tick is inked
    expected = crop_column(tick, top, bottom, left, right, height=height, max_width=max_width)
    assert abs(found - expected) < 0.1
    back = page_column(expected, top, bottom, left, right, height=height, max_width=max_width)
    assert back == pytest.approx(tick, abs=1e-9)


def test_mapping_round_trips_and_is_monotonic():
    geometry = (300.3, 380.1, 100.7, 899.2)
    columns = [crop_column(x, *geometry, height=96, max_width=500) for x in np.linspace(-50, 1050, 23)]
    assert all(a < b for a, b in itertools.pairwise(columns))
    for c in (-3.0, 0.0, 17.25, 499.5):
        assert crop_column(
            page_column(c, *geometry, max_width=500), *geometry, max_width=500
        ) == pytest.approx(c)
