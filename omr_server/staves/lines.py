"""Find staves: five evenly spaced long horizontal lines, and where each staff starts and ends.

Only ink in long horizontal runs counts as line evidence (noteheads, stems and text drop out);
its row projection peaks at staff lines, broken or not. Peaks are chained into groups of five at
the page's interline. A staff's horizontal extent is where most of its five lines carry ink
(`extend_staff` then lets it reach as far as its system's and page's other staves where the
lines still run, a little off their rows).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from omr_server.staves.layout import Staff, StaffMetrics
from omr_server.staves.peaks import find_peaks  # scipy.signal costs 1.5-3 s to import

LINES_PER_STAFF = 5
_SPACING_TOLERANCE = 0.2  # of the interline
_MIN_STAFF_WIDTH_INTERLINES = 6
# How far (in staff spaces) a line may drift from its row and still count when a staff is
# extended towards its system's and page's ends (`extend_staff`).
_DRIFT_INTERLINES = 0.2
_BREAK_INTERLINES = 1.5  # a break in a scan's lines crossed when extending a staff rightwards


def long_runs(ink: np.ndarray, length: int) -> np.ndarray:
    """Ink pixels lying in a horizontal run of at least `length` pixels: a morphological opening
    by a 1×length line, done as a 1-D min filter then max filter (O(1) per pixel, unlike a
    general binary opening)."""
    eroded = ndimage.minimum_filter1d(ink.view(np.uint8), length, axis=1)
    # The dilation uses the reflected window: for an even length its centre sits one step over.
    opened = ndimage.maximum_filter1d(eroded, length, axis=1, origin=-1 if length % 2 == 0 else 0)
    return np.asarray(opened.view(bool))


@dataclass(frozen=True)
class LineCandidate:
    y: float  # sub-pixel row of the line centre
    strength: float  # pixels of long-run ink on that row


def line_candidates(line_ink: np.ndarray, metrics: StaffMetrics, min_width: float) -> list[LineCandidate]:
    """Rows where the long-run ink peaks, at least `min_width` pixels of it, lines apart."""
    projection = ndimage.uniform_filter1d(
        line_ink.sum(axis=1).astype(np.float64), size=max(1, round(metrics.line_thickness))
    )
    peaks, _ = find_peaks(projection, height=min_width, distance=max(2, round(metrics.interline * 0.6)))
    # Refine each peak to the ink-weighted centre of its neighbourhood (sub-pixel line position).
    reach = max(1, round(metrics.line_thickness))
    candidates = []
    for peak in peaks:
        rows = np.arange(max(0, peak - reach), min(len(projection), peak + reach + 1))
        weights = projection[rows]
        candidates.append(
            LineCandidate(float(np.dot(rows, weights) / weights.sum()), float(projection[peak]))
        )
    return candidates


def _strongest_near(
    candidates: list[LineCandidate], start: int, expected: float, tolerance: float
) -> LineCandidate | None:
    """The strongest candidate from `start` on within `tolerance` of `expected` (rows sorted)."""
    best: LineCandidate | None = None
    for candidate in candidates[start:]:
        if candidate.y > expected + tolerance:
            break
        if candidate.y >= expected - tolerance and (best is None or candidate.strength > best.strength):
            best = candidate
    return best


def chain_staves(candidates: list[LineCandidate], interline: float) -> list[tuple[float, ...]]:
    """Non-overlapping groups of five lines one interline apart, strongest groups first.

    Beams and other long strokes inside a staff also peak; chaining from every start and keeping
    the chains whose weakest line is strongest lets the real lines win over them. One inner line
    may be missing (faint or broken in a scan, lost at low dpi): it is interpolated, and such a
    chain ranks below complete ones.
    """
    tolerance = interline * _SPACING_TOLERANCE
    position = {id(candidate): index for index, candidate in enumerate(candidates)}
    chains: list[tuple[float, list[float]]] = []
    for first in candidates:
        lines = [first]
        ys = [first.y]
        interpolated = False
        while len(ys) < LINES_PER_STAFF:
            after = position[id(lines[-1])] + 1
            found = _strongest_near(candidates, after, ys[-1] + interline, tolerance)
            if found is None and not interpolated and 1 <= len(ys) <= LINES_PER_STAFF - 2:
                found = _strongest_near(candidates, after, ys[-1] + 2 * interline, tolerance)
                if found is not None:
                    ys.append((ys[-1] + found.y) / 2)
                    interpolated = True
            if found is None:
                break
            lines.append(found)
            ys.append(found.y)
        if len(ys) == LINES_PER_STAFF:
            score = min(line.strength for line in lines) * (0.5 if interpolated else 1.0)
            chains.append((score, ys))
    accepted: list[tuple[float, float]] = []
    staves: list[tuple[float, ...]] = []
    for _, ys in sorted(chains, key=lambda item: -item[0]):
        top, bottom = ys[0], ys[-1]
        if any(top <= b + interline / 2 and bottom >= t - interline / 2 for t, b in accepted):
            continue
        accepted.append((top, bottom))
        staves.append(tuple(ys))
    return sorted(staves)


def _line_columns(
    ink: np.ndarray, line_ys: tuple[float, ...], metrics: StaffMetrics, drift: float
) -> np.ndarray:
    """Per column, whether at least four of the five lines carry ink within `drift` staff spaces
    (plus half a line) of their rows; gaps of broken lines closed, but not the wider gap between
    a brace and the staff."""
    reach = max(1, round(metrics.line_thickness / 2 + 1 + drift * metrics.interline))
    hits = np.zeros(ink.shape[1], dtype=np.int16)
    for y in line_ys:
        band = ink[max(0, round(y) - reach) : round(y) + reach + 1]
        hits += band.any(axis=0)
    covered = hits >= LINES_PER_STAFF - 1
    gap = max(2, round(metrics.interline / 2))
    return np.asarray(
        ndimage.binary_closing(np.pad(covered, gap), structure=np.ones(gap, dtype=bool))[gap:-gap]
    )


def staff_extent(
    ink: np.ndarray, line_ys: tuple[float, ...], metrics: StaffMetrics
) -> tuple[int, int] | None:
    """Leftmost and rightmost columns of the longest stretch where the lines carry ink."""
    covered = _line_columns(ink, line_ys, metrics, drift=0.0)
    labels, count = ndimage.label(covered)
    if count == 0:
        return None
    sizes = ndimage.sum(covered, labels, np.arange(1, count + 1))
    longest = int(np.argmax(sizes)) + 1
    columns = np.nonzero(labels == longest)[0]
    return int(columns[0]), int(columns[-1])


def extend_staff(ink: np.ndarray, staff: Staff, metrics: StaffMetrics, left: float, right: float) -> Staff:
    """`staff` extended towards columns `left` and `right` as far as its lines carry ink a
    little off their rows (never shortened, never past them).

    On a scan a staff's lines bow a pixel or two off their rows and break here and there, and
    detection keeps only the straight, unbroken stretch: a staff found shorter than its system
    or its page loses its first or last bars. The bounds keep a dark page border or the margin
    from being taken for staff. Rightwards a wider break is crossed than leftwards, where the
    gap between a brace and its staves must not be."""
    covered = _line_columns(ink, staff.line_ys, metrics, drift=_DRIFT_INTERLINES)
    start = _reach(covered, round(staff.left_x), max(0, round(left)), -1, 0)
    wide_break = round(_BREAK_INTERLINES * metrics.interline)
    end = _reach(covered, round(staff.right_x), min(len(covered) - 1, round(right)), 1, wide_break)
    return replace(staff, left_x=float(min(start, staff.left_x)), right_x=float(max(end, staff.right_x)))


def _reach(covered: np.ndarray, start: int, stop: int, step: int, max_gap: int) -> int:
    """The last covered column from `start` towards `stop`, crossing gaps of up to `max_gap`."""
    at = last = start
    gap = 0
    while (stop - at) * step > 0:
        at += step
        if covered[at]:
            last, gap = at, 0
        else:
            gap += 1
            if gap > max_gap:
                break
    return last


def find_staves(ink: np.ndarray, metrics: StaffMetrics) -> list[Staff]:
    run = max(3, round(metrics.interline * 1.5))
    line_ink = long_runs(ink, run)
    min_width = _MIN_STAFF_WIDTH_INTERLINES * metrics.interline
    candidates = line_candidates(line_ink, metrics, min_width)
    staves = []
    for line_ys in chain_staves(candidates, metrics.interline):
        extent = staff_extent(ink, line_ys, metrics)
        if extent is None or extent[1] - extent[0] < min_width:
            continue
        left, right = extent
        ys = (line_ys[0], line_ys[1], line_ys[2], line_ys[3], line_ys[4])
        staves.append(Staff(line_ys=ys, left_x=float(left), right_x=float(right)))
    return staves
