"""Bowed staves read along their lines (omr_server/staves/straighten.py), on pages built here."""

from __future__ import annotations

import numpy as np
import pytest

from omr_server.staves.detect import detect_layout
from omr_server.staves.straighten import straight_crops
from recognition.crop import crop_staff, staff_band
from tests.omr.images import bowed
from tests.omr.pdfs import piano_pages


def _page() -> np.ndarray:
    return piano_pages(60)[0].image  # fourteen staves: a full page


def _lines_in_place(crop: np.ndarray) -> float:
    """Share of the crop's columns with all five staff lines within a row of where the model
    expects them."""
    top, bottom = staff_band(crop.shape[0])
    rows = np.rint(np.linspace(top, bottom, 5)).astype(int)
    inked = np.stack([crop[r - 1 : r + 2].max(axis=0) > 0.3 for r in rows])
    return float(inked.all(axis=0).mean())


def test_a_flat_page_is_cropped_as_detected() -> None:
    layout = detect_layout(_page())
    same, crops, curved = straight_crops(layout, 96)
    assert same is layout and curved == []
    assert min(_lines_in_place(c) for c in crops) > 0.95
    for staff, crop in zip(layout.staves, crops, strict=True):
        plain = crop_staff(layout.image, staff.top, staff.bottom, staff.left_x, staff.right_x)
        assert np.array_equal(crop, plain)


def test_no_shift_crops_as_before() -> None:
    layout = detect_layout(_page())
    staff = layout.staves[3]
    args = (layout.image, staff.top, staff.bottom, staff.left_x, staff.right_x)
    zero = np.zeros(layout.image.shape[1], np.float32)
    assert np.array_equal(crop_staff(*args, row_shift=zero), crop_staff(*args))


@pytest.mark.parametrize("interlines", [0.5, 1.0])
def test_a_bowed_page_gives_straight_crops_of_whole_staves(interlines: float) -> None:
    flat = detect_layout(_page())
    layout = detect_layout(bowed(_page(), interlines))
    followed, crops, curved = straight_crops(layout, 96)
    assert len(curved) >= 4  # still named in the page's warning
    # The same lengths of staff cropped straight through the rows detection gave them.
    unfollowed = [crop_staff(layout.image, s.top, s.bottom, s.left_x, s.right_x) for s in followed.staves]
    straight = np.median([_lines_in_place(c) for c in crops])
    assert straight > 0.75 and straight > np.median([_lines_in_place(c) for c in unfollowed]) + 0.25
    # Detection kept a part of each bowed staff; followed, they run as far as on the flat page.
    lengths = [s.right_x - s.left_x for s in followed.staves]
    detected = [s.right_x - s.left_x for s in layout.staves]
    full = np.median([s.right_x - s.left_x for s in flat.staves])
    assert np.median(detected) < 0.9 * full
    assert np.median(lengths) > 0.97 * full
