"""What staff detection finds on a page: staves (five lines each), systems, reading order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StaffMetrics:
    """Typical staff-line thickness and line-to-line distance on a page, in pixels."""

    line_thickness: float
    interline: float  # distance from one staff line to the next (a staff space plus a line)


@dataclass(frozen=True)
class Staff:
    line_ys: tuple[float, float, float, float, float]  # top to bottom, on the deskewed page
    left_x: float
    right_x: float

    @property
    def top(self) -> float:
        return self.line_ys[0]

    @property
    def bottom(self) -> float:
        return self.line_ys[-1]

    @property
    def interline(self) -> float:
        return (self.bottom - self.top) / 4


@dataclass(frozen=True)
class System:
    """Staves played together, top to bottom, left edges joined by a barline or brace."""

    staves: tuple[Staff, ...]
    # Index in `staves` of the upper staff of each braced pair (a piano grand staff).
    braced_pairs: tuple[int, ...] = ()
    # True when a connecting barline/brace was seen; False when grouped by spacing alone.
    joined: bool = True


@dataclass(frozen=True)
class PageLayout:
    image: np.ndarray  # the deskewed page (uint8, 255 = paper) that staff coordinates refer to
    skew_degrees: float  # rotation that was removed
    metrics: StaffMetrics | None  # None when the page holds no staff lines
    systems: tuple[System, ...]

    @property
    def staves(self) -> list[Staff]:
        """Every staff in reading order: systems top to bottom, staves top to bottom."""
        return [staff for system in self.systems for staff in system.staves]
