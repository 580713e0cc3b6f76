"""How far a detected staff's lines bend: a photo of a curled page bows its staves.

Detection gives each staff one row per line (on the deskewed page), and on a bowed page it keeps
only the stretch of the staff where the lines lie near those rows; the model reads a straight
band through them. So the staff's five-line comb is followed from the middle of that stretch
outwards, one segment of a few staff spaces at a time (each segment may move half a staff space
from the last), until the lines end, and the spread of the offsets found is the staff's bend.
"""

from __future__ import annotations

import numpy as np

from omr_server.staves.layout import Staff, StaffMetrics

# Bend (in staff spaces, peak to peak) above which a staff is reported as too curved to read:
# half a space moves a note by a step.
MAX_BOW_INTERLINES = 0.5
_SEGMENT_INTERLINES = 4  # segment width
_REACH_INTERLINES = 4  # how far the comb may drift in all
_MIN_LINE_INK = 0.3  # of a segment's width, on each of the five lines, for the staff to go on


def staff_bow(ink: np.ndarray, staff: Staff, metrics: StaffMetrics) -> float:
    """Peak-to-peak vertical drift of the staff's lines along the page, in staff spaces."""
    interline = staff.interline or metrics.interline
    width = max(2, round(_SEGMENT_INTERLINES * interline))
    reach = round(_REACH_INTERLINES * interline)
    step = max(1, round(interline / 2))
    top = max(0, round(staff.top) - reach - step)
    bottom = min(ink.shape[0], round(staff.bottom) + reach + step + 1)
    rows = np.array([round(y) - top for y in staff.line_ys])
    thickness = max(1, round(metrics.line_thickness))

    def follow(left: int, previous: int) -> int | None:
        """The comb's offset on the segment starting at column `left`, near `previous`."""
        profile = ink[top:bottom, left : left + width].sum(axis=1).astype(np.float64)
        # A line is a few rows thick: take the densest row within its thickness.
        profile = np.maximum.reduce([np.roll(profile, shift) for shift in range(-thickness, thickness + 1)])
        best, best_ink = None, _MIN_LINE_INK * width
        for offset in range(max(-reach, previous - step), min(reach, previous + step) + 1):
            at = rows + offset
            if at.min() < 0 or at.max() >= len(profile):
                continue
            weakest = float(profile[at].min())
            if weakest >= best_ink:
                best, best_ink = offset, weakest
        return best

    start = round((staff.left_x + staff.right_x - width) / 2)
    first = follow(start, 0)
    if first is None:
        return 0.0
    offsets = [first]
    for direction in (1, -1):
        left, previous = start + direction * width, first
        while left >= 0 and left + width <= ink.shape[1]:
            found = follow(left, previous)
            if found is None:
                break
            offsets.append(found)
            left, previous = left + direction * width, found
    return (max(offsets) - min(offsets)) / interline


def curved_staves(
    ink: np.ndarray, staves: list[Staff], metrics: StaffMetrics | None
) -> list[tuple[int, float]]:
    """(index in reading order, bend in staff spaces) of each staff bent more than MAX_BOW_INTERLINES."""
    if metrics is None:
        return []
    bows = [(index, staff_bow(ink, staff, metrics)) for index, staff in enumerate(staves)]
    return [(index, bow) for index, bow in bows if bow > MAX_BOW_INTERLINES]
