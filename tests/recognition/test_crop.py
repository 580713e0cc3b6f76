import numpy as np
import pytest

from recognition.crop import crop_staff, staff_band


def page_with_staff(top: int, space: int, left: int, right: int) -> np.ndarray:
    page = np.full((1200, 1000), 255, np.uint8)
    for k in range(5):
        page[top + k * space, left:right] = 0
    return page


@pytest.mark.parametrize(("space", "height"), [(20, 96), (13, 96), (8, 128)])
def test_staff_lines_land_on_the_fixed_band(space, height):
    page = page_with_staff(300, space, 100, 900)
    crop = crop_staff(page, 300, 300 + 4 * space, 100, 899, height=height)
    assert crop.dtype == np.float32 and crop.shape[0] == height
    rows = crop[:, crop.shape[1] // 2]
    lines = np.sort(np.argsort(rows)[-5:])
    top, bottom = staff_band(height)
    assert abs(lines[0] - top) <= 1 and abs(lines[-1] - bottom) <= 1
    assert crop.max() <= 1.0 and crop.min() >= 0.0
    # aspect kept: width = (staff length + 2 spaces) * scale
    expected = (899 - 100 + 2 * space) * (bottom - top) / (4 * space)
    assert abs(crop.shape[1] - expected) <= 1


def test_outside_the_page_reads_as_paper_and_wide_staves_are_squeezed():
    page = page_with_staff(5, 20, 0, 1000)  # top line near the page edge
    crop = crop_staff(page, 5, 85, 0, 999, height=96, max_width=300)
    assert crop.shape == (96, 300)
    assert crop[:20].max() == 0.0


def test_bad_geometry_is_refused():
    page = page_with_staff(300, 20, 100, 900)
    with pytest.raises(ValueError, match="below top line"):
        crop_staff(page, 380, 300, 100, 900)
    with pytest.raises(ValueError, match="grayscale"):
        crop_staff(np.zeros((10, 10, 3), np.uint8), 1, 5, 1, 5)
