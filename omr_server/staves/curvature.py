"""How far a detected staff's lines bend: a photo of a curled page bows its staves.

Detection gives each staff one row per line (on the deskewed page), and on a bowed page it keeps
only the stretch of the staff where the lines lie near those rows. So the staff's five-line comb
is followed from the middle of that stretch outwards, one segment of a few staff spaces at a time
(each segment may move a quarter of a staff space from the last), until the lines end: the
spread of the offsets found is the staff's bend, the columns it reached show how much of the
staff detection kept, and the offsets are the path straighten.py crops a bowed staff along.

Measured on an engraved page bowed by a half sine (tests/omr/images.py `bowed`), read by the
model against the same page flat: flat, or skewed 2° with speckle, it measures at most 0.09 staff
spaces; bent 0.19 the notes read the same; bent 0.24, 13% of them change; bent 0.28, detection
keeps 85% of each staff's length and over a quarter of the notes change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from omr_server.staves.layout import Staff, StaffMetrics

# A staff is reported as too curved to read when its lines bend by more than this (staff spaces,
# peak to peak), or when detection kept less than MIN_KEPT of the length its lines run.
MAX_BOW_INTERLINES = 0.2
MIN_KEPT = 0.85
_SEGMENT_INTERLINES = 4  # segment width
_REACH_INTERLINES = 4  # how far the comb may drift in all
# How far the comb may move from one segment to the next: a bow drifts a tenth of a staff space
# per segment; half a space let it slip onto a beam or ledger line beside the lines.
_STEP_INTERLINES = 0.25
_MIN_LINE_INK = 0.3  # of a segment's width, on each of the five lines, for the staff to go on


@dataclass(frozen=True)
class StaffBend:
    bend: float  # peak-to-peak vertical drift of the lines, in staff spaces
    kept: float  # the detected staff's width over the width its lines run (at most 1)
    # Where the lines run: (page column of a segment's middle, rows below the detected lines),
    # left to right; empty when the lines could not be followed.
    path: tuple[tuple[float, int], ...] = ()

    @property
    def too_curved(self) -> bool:
        return self.bend > MAX_BOW_INTERLINES or self.kept < MIN_KEPT


def staff_bend(ink: np.ndarray, staff: Staff, metrics: StaffMetrics) -> StaffBend:
    """How the staff's lines run along the page, followed from the middle of the detected staff."""
    interline = staff.interline or metrics.interline
    width = max(2, round(_SEGMENT_INTERLINES * interline))
    reach = round(_REACH_INTERLINES * interline)
    step = max(1, round(interline * _STEP_INTERLINES))
    top = max(0, round(staff.top) - reach - step)
    bottom = min(ink.shape[0], round(staff.bottom) + reach + step + 1)
    rows = np.array([round(y) - top for y in staff.line_ys])
    thickness = max(1, round(metrics.line_thickness))

    def follow(left: int, previous: int) -> int | None:
        """The comb's offset on the segment starting at column `left`, near `previous`."""
        profile = ink[top:bottom, left : left + width].sum(axis=1).astype(np.float64)
        # A line is a few rows thick: take the densest row within its thickness (wrapping at the
        # band's ends, which the reach keeps clear of the comb).
        profile = ndimage.maximum_filter1d(profile, 2 * thickness + 1, mode="wrap")
        offsets = np.arange(max(-reach, previous - step), min(reach, previous + step) + 1)
        at = rows[None, :] + offsets[:, None]
        inside = (at.min(axis=1) >= 0) & (at.max(axis=1) < len(profile))
        if not inside.any():
            return None
        offsets, weakest = offsets[inside], profile[at[inside]].min(axis=1)
        strongest = weakest.max()
        if strongest < _MIN_LINE_INK * width:
            return None
        return int(offsets[np.flatnonzero(weakest == strongest)[-1]])  # the last of equals, as before

    start = round((staff.left_x + staff.right_x - width) / 2)
    first = follow(start, 0)
    if first is None:
        return StaffBend(0.0, 1.0)
    offsets = [first]
    path = [(start + width / 2, first)]
    reached = [start, start + width]  # columns the lines were followed over
    for direction in (1, -1):
        left, previous = start + direction * width, first
        while left >= 0 and left + width <= ink.shape[1]:
            found = follow(left, previous)
            if found is None:
                break
            offsets.append(found)
            path.append((left + width / 2, found))
            reached.append(left if direction < 0 else left + width)
            left, previous = left + direction * width, found
    # A segment half past the staff's end still holds enough ink: one segment allowed for.
    run = max(reached) - min(reached) - width
    kept = min(1.0, (staff.right_x - staff.left_x) / run) if run > 0 else 1.0
    bend = (max(offsets) - min(offsets)) / interline
    return StaffBend(bend, kept, tuple(sorted(path)))
