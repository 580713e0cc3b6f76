"""Read a bowed staff straight: its crop follows its lines, and it spans the length they run.

A phone photo of a curled page, or a book pressed unevenly on the glass, bows every staff. The
model reads a straight band, and detection keeps only the stretch of the staff near its rows
(staves/curvature.py), so a bowed staff lost its ends and had its notes read off their lines.
The comb follower of curvature.py knows where the lines run at each segment of the staff: the
crop takes each page column from rows shifted by the lines' offset there, and the staff's
extent grows to where the lines were followed. Pages where detection kept most staves whole are
cropped exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from omr_server.staves.binarize import ink_mask
from omr_server.staves.curvature import MIN_KEPT, StaffBend, staff_bend
from omr_server.staves.layout import PageLayout, Staff
from recognition.crop import crop_staff

# Flat staves measure up to 0.09 staff spaces of bend (curvature.py): below this a staff is read
# as detected.
MIN_BEND_INTERLINES = 0.1
# A staff found over under a third of the length its lines run is more likely a fragment (a
# few lines of another staff, an ossia) than a staff a bow shortened: it is left as detected.
MIN_PART = 0.3


@dataclass(frozen=True)
class StaffPath:
    """A staff as its lines run: its extent and, for a bowed one, the rows its lines sit below
    the detected ones at each page column (None: straight)."""

    staff: Staff
    row_shift: np.ndarray | None = None

    def crop(self, page: np.ndarray, height: int) -> np.ndarray:
        """The model's input for this staff of `page` (recognition/crop.py)."""
        s = self.staff
        return crop_staff(page, s.top, s.bottom, s.left_x, s.right_x, height=height, row_shift=self.row_shift)


def follow_staff(staff: Staff, bend: StaffBend, page_width: int) -> StaffPath:
    """The staff as its lines run: read as detected unless they bend."""
    if bend.bend < MIN_BEND_INTERLINES or bend.kept < MIN_PART or len(bend.path) < 3:
        return StaffPath(staff)
    columns = np.array([column for column, _ in bend.path], np.float64)
    offsets = np.array([offset for _, offset in bend.path], np.float64)
    row_shift = np.interp(np.arange(page_width), columns, offsets).astype(np.float32)
    # The outermost segments held ink on all five lines: the staff runs at least to their middles.
    left = min(staff.left_x, float(columns[0]))
    right = max(staff.right_x, float(columns[-1]))
    return StaffPath(replace(staff, left_x=left, right_x=right), row_shift)


def follow_staves(layout: PageLayout, ink: np.ndarray) -> tuple[PageLayout, list[StaffPath], list[StaffBend]]:
    """The layout with bowed staves given the extent their lines run, each staff's path (in
    reading order) and its bend as detected."""
    if layout.metrics is None or not layout.systems:
        return layout, [], []
    metrics, width = layout.metrics, layout.image.shape[1]
    bends = [staff_bend(ink, staff, metrics) for staff in layout.staves]
    # A bow lifts the whole page, and detection then loses part of most of its staves. Elsewhere
    # a measured bend is more often the comb slipping a line under dense beams at a staff's end
    # (and a scan's lines bow a little too): such pages are read as detected.
    if float(np.median([bend.kept for bend in bends])) >= MIN_KEPT:
        return layout, [StaffPath(staff) for staff in layout.staves], bends
    paths = [follow_staff(staff, bend, width) for staff, bend in zip(layout.staves, bends, strict=True)]
    if all(path.row_shift is None for path in paths):
        return layout, paths, bends
    followed = iter(path.staff for path in paths)
    systems = tuple(
        replace(system, staves=tuple(next(followed) for _ in system.staves)) for system in layout.systems
    )
    return replace(layout, systems=systems), paths, bends


def straight_crops(
    layout: PageLayout, height: int
) -> tuple[PageLayout, list[np.ndarray], list[tuple[int, float, float]]]:
    """The model's crops of every staff in reading order, bowed ones read along their lines;
    the layout they refer to; and (index, bend, share kept) of each staff whose lines bent past
    what reads reliably as detected (curvature.py)."""
    if layout.metrics is None or not layout.systems:
        return layout, [], []
    layout, paths, bends = follow_staves(layout, ink_mask(layout.image))
    crops = [path.crop(layout.image, height) for path in paths]
    curved = [(index, b.bend, b.kept) for index, b in enumerate(bends) if b.too_curved]
    return layout, crops, curved
