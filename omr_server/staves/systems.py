"""Group staves into systems, find piano grand staves, and let each staff reach its system's
and its page's ends where its lines run (`extend_to_page`).

Staves of one system are joined at their left edge by a system barline, brace or bracket, and
usually by every barline. Where no such connector is seen on the whole page (a faint scan),
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
_BRACE_COVERAGE = 0.85
_SPACING_RATIO = 1.4


def connected(ink: np.ndarray, upper: Staff, lower: Staff, metrics: StaffMetrics) -> bool:
    """True when some vertical line crosses the whole gap between the two staves."""
    top = round(upper.bottom + metrics.line_thickness * 2)
    bottom = round(lower.top - metrics.line_thickness * 2)
    if bottom <= top:
        return True
    left = round(max(0.0, min(upper.left_x, lower.left_x) - metrics.interline * 0.5))
    right = round(min(upper.right_x, lower.right_x) + 1)
    band = ink[top:bottom, left:right]
    if band.size == 0:
        return False
    return bool(band.mean(axis=0).max() >= _CONNECTOR_COVERAGE)


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
