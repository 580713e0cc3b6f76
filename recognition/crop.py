"""Cut one staff out of a page image in the recognition model's input convention.

The convention (shared by training and serving, recorded as `input_height` in the model manifest):

- output: float32 array of shape (height, W), ink = 1.0, paper = 0.0 (so zero padding is blank paper);
- vertical: the five staff lines are scaled so that the top line lands on row `height * 1/3` and the
  bottom line on row `height * 2/3` (for height 96: rows 32 and 64, a staff space of 8 px), which
  leaves four staff spaces above and below for ledger lines, slurs and stems;
- horizontal: the same scale as vertical (aspect kept), from one staff space left of `left_x` to one
  staff space right of `right_x`; a staff wider than `max_width` is squeezed horizontally only, so the
  vertical convention still holds;
- positions are pixel row/column indices (a one-pixel line drawn on row y has top_line_y = y);
- no deskew: callers pass the line positions at the staff's horizontal middle.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

STAFF_TOP_FRACTION = 1 / 3
STAFF_BOTTOM_FRACTION = 2 / 3
DEFAULT_HEIGHT = 96
MAX_WIDTH_PER_HEIGHT = 16  # 1536 px at height 96: a full system is ~110 staff spaces (~880 px)


def staff_band(height: int) -> tuple[float, float]:
    """Rows where the top and bottom staff lines sit in a crop of this height."""
    return height * STAFF_TOP_FRACTION, height * STAFF_BOTTOM_FRACTION


def crop_staff(
    page: np.ndarray,
    top_line_y: float,
    bottom_line_y: float,
    left_x: float,
    right_x: float,
    *,
    height: int = DEFAULT_HEIGHT,
    max_width: int | None = None,
    row_shift: np.ndarray | None = None,
) -> np.ndarray:
    """Crop and rescale one staff of a grayscale page (uint8, 255 = paper) to the model input.

    `row_shift`: for a bowed staff, how many rows below the given line rows its lines run at
    each page column (one value per column of the page); the crop then follows them."""
    if page.ndim != 2:
        raise ValueError(f"page must be a 2-D grayscale array, got shape {page.shape}")
    if not bottom_line_y > top_line_y:
        raise ValueError(f"bottom line ({bottom_line_y}) must be below top line ({top_line_y})")
    if not right_x > left_x:
        raise ValueError(f"right edge ({right_x}) must be right of left edge ({left_x})")
    max_width = max_width or height * MAX_WIDTH_PER_HEIGHT
    band_top, band_bottom = staff_band(height)
    scale = (band_bottom - band_top) / (bottom_line_y - top_line_y)  # output px per page px
    space = (bottom_line_y - top_line_y) / 4
    # Source window in continuous page coordinates (pixel i spans [i, i+1), so row indices map
    # through their centres); parts outside the page read as paper.
    src_top = top_line_y + 0.5 - (band_top + 0.5) / scale
    src_bottom = src_top + height / scale
    src_left = left_x - space
    src_right = right_x + space
    width = max(1, min(round((src_right - src_left) * scale), max_width))
    # Copy the window (plus a margin for the filter) onto blank paper, so it may overhang the page.
    x0, y0 = math.floor(src_left) - 2, math.floor(src_top) - 2
    x1, y1 = math.ceil(src_right) + 2, math.ceil(src_bottom) + 2
    if row_shift is None:
        window = _window(page, y0, y1, x0, x1)
    else:
        window = _shifted_window(page, y0, y1, x0, x1, row_shift)
    out = Image.fromarray(window).resize(
        (width, height),
        resample=Image.Resampling.BILINEAR,
        box=(src_left - x0, src_top - y0, src_right - x0, src_bottom - y0),
        reducing_gap=None,
    )
    return np.asarray(out, dtype=np.float32) / 255.0


def _window(page: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Rows y0:y1 and columns x0:x1 of the page as ink (> 0) on paper (0), blank off the page."""
    window = np.zeros((y1 - y0, x1 - x0), np.uint8)
    page_h, page_w = page.shape
    cy0, cy1, cx0, cx1 = max(y0, 0), min(y1, page_h), max(x0, 0), min(x1, page_w)
    if cy1 > cy0 and cx1 > cx0:
        window[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = 255 - page[cy0:cy1, cx0:cx1]
    return window


def _shifted_window(
    page: np.ndarray, y0: int, y1: int, x0: int, x1: int, row_shift: np.ndarray
) -> np.ndarray:
    """`_window` with each column taken `row_shift` rows lower (rounded: the crop shrinks the
    page two- to threefold, so a pixel's rounding is lost in it)."""
    page_h, page_w = page.shape
    columns = np.arange(x0, x1)
    on_page = (columns >= 0) & (columns < page_w)
    shifts = np.rint(row_shift[np.clip(columns, 0, len(row_shift) - 1)]).astype(np.int64)
    rows = np.arange(y0, y1)[:, None] + shifts[None, :]
    inside = (rows >= 0) & (rows < page_h) & on_page[None, :]
    ink = 255 - page[np.clip(rows, 0, page_h - 1), np.clip(columns, 0, page_w - 1)[None, :]]
    return np.where(inside, ink, 0).astype(np.uint8)


def _horizontal_map(
    top_line_y: float, bottom_line_y: float, left_x: float, right_x: float, height: int, max_width: int | None
) -> tuple[float, float]:
    """(src_left, crop px per page px horizontally) of `crop_staff` with the same arguments
    (the same arithmetic as crop_staff, squeeze included; tests/recognition/test_crop.py checks it)."""
    max_width = max_width or height * MAX_WIDTH_PER_HEIGHT
    band_top, band_bottom = staff_band(height)
    scale = (band_bottom - band_top) / (bottom_line_y - top_line_y)
    space = (bottom_line_y - top_line_y) / 4
    src_left = left_x - space
    src_right = right_x + space
    width = max(1, min(round((src_right - src_left) * scale), max_width))
    return src_left, width / (src_right - src_left)


def crop_column(
    page_x: float,
    top_line_y: float,
    bottom_line_y: float,
    left_x: float,
    right_x: float,
    *,
    height: int = DEFAULT_HEIGHT,
    max_width: int | None = None,
) -> float:
    """Column of the `crop_staff` crop (same geometry arguments) where page column `page_x` lands.

    Both are pixel indices (float): a one-pixel vertical line on page column c shows, after
    resampling, centred on column `crop_column(c, ...)`. May fall outside [0, width)."""
    src_left, k = _horizontal_map(top_line_y, bottom_line_y, left_x, right_x, height, max_width)
    return (page_x + 0.5 - src_left) * k - 0.5


def page_column(
    column: float,
    top_line_y: float,
    bottom_line_y: float,
    left_x: float,
    right_x: float,
    *,
    height: int = DEFAULT_HEIGHT,
    max_width: int | None = None,
) -> float:
    """Inverse of `crop_column`: the page column that lands on crop column `column`."""
    src_left, k = _horizontal_map(top_line_y, bottom_line_y, left_x, right_x, height, max_width)
    return (column + 0.5) / k + src_left - 0.5
