"""Group staves into systems, find piano grand staves, let each staff reach its system's and its
page's ends where its lines run (`extend_to_page`), and leave out staff fragments
(`drop_fragments`).

Staves of one system are joined at their left edge by a system barline, brace or bracket, and
usually by every barline. A scan's dark page edge or binding shadow also inks the gaps between
systems top to bottom, but it is wide or runs off the image, where a barline is thin and inside it.
Where no such connector is seen on the whole page (a faint scan),
staves are paired by spacing instead: staves of a system sit closer than systems do.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import replace

import numpy as np

from omr_server.staves.layout import Staff, StaffMetrics, System
from omr_server.staves.lines import extend_staff

_CONNECTOR_COVERAGE = 0.92  # share of the gap between two staves a connecting line must ink
_CONNECTOR_WIDTH = 0.8  # interlines: the widest connecting line (a thick barline is about 0.5)
_PAPER_BESIDE = 0.6  # the most ink half an interline either side of a line may hold on average
_BRACE_COVERAGE = 0.85
_SPACING_RATIO = 1.4
_FRAGMENT_WIDTH = 0.25  # of the page's median staff: narrower is an ossia or a staff found in part


def connected(ink: np.ndarray, upper: Staff, lower: Staff, metrics: StaffMetrics) -> bool:
    """True when some thin vertical line crosses the whole gap between the two staves."""
    top = round(upper.bottom + metrics.line_thickness * 2)
    bottom = round(lower.top - metrics.line_thickness * 2)
    if bottom <= top:
        return True
    left = round(max(0.0, min(upper.left_x, lower.left_x) - metrics.interline * 0.5))
    right = round(min(upper.right_x, lower.right_x) + 1)
    if right <= left:
        return False
    coverage = ink[top:bottom].mean(axis=0)
    inked = np.flatnonzero(coverage[left:right] >= _CONNECTOR_COVERAGE) + left
    return any(_is_line(run, coverage, metrics) for run in _runs(inked))


def _runs(columns: np.ndarray) -> list[np.ndarray]:
    """Consecutive columns, in runs."""
    return np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1) if columns.size else []


def _is_line(run: np.ndarray, coverage: np.ndarray, metrics: StaffMetrics) -> bool:
    """A thin line with paper on both sides, inside the page: not a dark margin or shadow along
    its edge (no barline stands within an interline of the image's edge)."""
    reach = round(metrics.interline)
    first, last = int(run[0]), int(run[-1])
    if run.size > max(2.0, _CONNECTOR_WIDTH * metrics.interline):
        return False
    if first < reach or last >= coverage.size - reach:
        return False
    beside = (coverage[first - reach // 2 : first], coverage[last + 1 : last + 1 + reach // 2])
    return all(side.mean() < _PAPER_BESIDE for side in beside)


def braced(ink: np.ndarray, upper: Staff, lower: Staff, metrics: StaffMetrics) -> bool:
    """True when ink left of the staves spans both of them top to bottom (a brace or bracket)."""
    left_edge = min(upper.left_x, lower.left_x)
    band = ink[
        round(upper.top) : round(lower.bottom) + 1,
        round(max(0.0, left_edge - metrics.interline * 3)) : round(
            max(0.0, left_edge - metrics.interline * 0.25)
        ),
    ]
    if band.size == 0:
        return False
    return bool(band.any(axis=1).mean() >= _BRACE_COVERAGE)


def _joined_by_spacing(staves: list[Staff]) -> list[bool]:
    gaps = [lower.top - upper.bottom for upper, lower in itertools.pairwise(staves)]
    if not gaps or max(gaps) < min(gaps) * _SPACING_RATIO:
        return [False] * len(gaps)
    threshold = (max(gaps) + min(gaps)) / 2
    return [gap < threshold for gap in gaps]


def extend_to_page(ink: np.ndarray, systems: list[System], metrics: StaffMetrics) -> list[System]:
    """Systems whose staves reach as far as their lines run towards the page's usual ends.

    A page's systems are justified to one width (the first may be indented, the last may stop
    short), and a system's staves start and end together. So each staff may extend to where the
    staves of its system reach, or the median system of its page, but only where its lines run
    (`lines.extend_staff`): an indented or short system has no lines there and stays as it is."""
    if not systems:
        return systems
    usual_left = statistics.median(min(staff.left_x for staff in s.staves) for s in systems)
    usual_right = statistics.median(max(staff.right_x for staff in s.staves) for s in systems)
    out = []
    for system in systems:
        left = min(usual_left, *(staff.left_x for staff in system.staves))
        right = max(usual_right, *(staff.right_x for staff in system.staves))
        staves = tuple(extend_staff(ink, staff, metrics, left, right) for staff in system.staves)
        out.append(replace(system, staves=staves))
    return out


def group_systems(ink: np.ndarray, staves: list[Staff], metrics: StaffMetrics) -> list[System]:
    """Systems in reading order (top to bottom), each with its staves top to bottom."""
    staves = sorted(staves, key=lambda staff: staff.top)
    joins = [connected(ink, a, b, metrics) for a, b in itertools.pairwise(staves)]
    by_connector = any(joins)
    if not by_connector:
        joins = _joined_by_spacing(staves)
    groups: list[list[Staff]] = []
    for index, staff in enumerate(staves):
        if index > 0 and joins[index - 1]:
            groups[-1].append(staff)
        else:
            groups.append([staff])
    systems = []
    for group in groups:
        pairs = tuple(i for i in range(len(group) - 1) if braced(ink, group[i], group[i + 1], metrics))
        systems.append(System(staves=tuple(group), braced_pairs=pairs, joined=by_connector))
    return systems


def drop_fragments(systems: list[System]) -> list[System]:
    """The systems without staff fragments: staves under a quarter of the page's usual width that
    stand alone on a page of multi-staff systems, or beside a pair of full ones.

    An ossia (an alternative bar on a small staff over the system), a staff whose lines bow too
    much to be followed beyond a bar or two, or five parallel strokes of beams taken for lines:
    read as music of their own, they add notes and bars that the score does not have, and a third
    staff in a grand staff throws the system's bar alignment. Short systems of full staves (a
    page's last, a coda) are kept: their staves are as short as each other."""
    staves = [staff for system in systems for staff in system.staves]
    if not staves:
        return systems
    usual = statistics.median(staff.right_x - staff.left_x for staff in staves)
    grand = sum(len(system.staves) >= 2 for system in systems) > len(systems) / 2
    out = []
    for system in systems:
        full = [
            i
            for i, staff in enumerate(system.staves)
            if staff.right_x - staff.left_x >= _FRAGMENT_WIDTH * usual
        ]
        if len(full) == len(system.staves):
            out.append(system)
        elif len(system.staves) == 1:
            if not grand:
                out.append(system)
        elif len(full) >= 2:
            kept = tuple(system.staves[i] for i in full)
            pairs = tuple(full.index(i) for i in system.braced_pairs if i in full and i + 1 in full)
            out.append(replace(system, staves=kept, braced_pairs=pairs))
        else:
            out.append(system)
    return out
