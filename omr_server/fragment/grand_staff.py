"""Read the staves of a system as one: they share their barlines.

When the staves of a system were read with different bar counts, one of them missed (or saw)
a barline, or skipped a bar. Aligning them from the left would put every later bar of that staff
beside the wrong bar of its partner. Instead, each bar of a staff with fewer bars is matched with
one or more consecutive bars of the staff with the most, and a bar that stands for several is
cut where its partner's barlines fall:

- where the model says where it read each note (a position head), by place on the page: a bar
  goes with the partner's bars its notes lie over, and is cut at the partner's barlines (the
  middle between the partner's bars). Lengths cannot tell bars apart when all are full: a bar
  that was skipped is then found where it is, not wherever the lengths happen to allow;
- otherwise by length, cut per voice by time, when some matching fits the lengths well; else
  the staves stay as read (and the caller warns).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from fractions import Fraction

from omr_server.fragment.measures import Event, StaffMeasure, StaffMeasures
from recognition.symbols import NoteSymbol, RestSymbol

MAX_GROUP = 3  # bars of the partner one read bar may stand for
# A matching is trusted when its lengths differ by at most this share of the system's length.
TOLERANCE = Fraction(1, 8)
# A staff's crop column → page column (each staff was cut and scaled on its own).
PageColumn = Callable[[float], float]


def bar_length(measure: StaffMeasure) -> Fraction:
    """The longest voice of a measure, in quarters."""
    voices: dict[int, Fraction] = {}
    for event in measure.events:
        if isinstance(event, NoteSymbol | RestSymbol) and not (isinstance(event, NoteSymbol) and event.chord):
            voices[event.voice] = voices.get(event.voice, Fraction(0)) + event.duration
    return max(voices.values(), default=Fraction(0))


def cheapest_grouping(
    n: int, m: int, cost: Callable[[int, int, int], float]
) -> tuple[float, list[int]] | None:
    """How many of m consecutive bars each of n bars stands for (1 to MAX_GROUP each, summing
    to m), with the least total `cost(i, first, last)` (bar i standing for bars first..last),
    and that total; None when no grouping exists."""
    if n == 0 or n >= m:
        return None
    # best[i][j]: least cost of the first i bars standing for the first j
    best = [[math.inf] * (m + 1) for _ in range(n + 1)]
    choice = [[0] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(i, m - (n - i) + 1):
            for k in range(1, min(MAX_GROUP, j - i + 1) + 1):
                total = best[i - 1][j - k] + cost(i - 1, j - k, j - 1)
                if total < best[i][j]:
                    best[i][j], choice[i][j] = total, k
    if math.isinf(best[n][m]):
        return None
    groups = []
    j = m
    for i in range(n, 0, -1):
        groups.append(choice[i][j])
        j -= choice[i][j]
    return best[n][m], groups[::-1]


def group_bars(short: list[Fraction], long: list[Fraction]) -> list[int] | None:
    """How many bars of `long` each bar of `short` stands for (summing to len(long)), choosing
    the grouping whose lengths differ least; None when no grouping is within TOLERANCE."""
    prefix = [Fraction(0)]
    for length in long:
        prefix.append(prefix[-1] + length)

    def mismatch(i: int, first: int, last: int) -> float:
        return float(abs(short[i] - (prefix[last + 1] - prefix[first])))

    found = cheapest_grouping(len(short), len(long), mismatch)
    if found is None or found[0] > TOLERANCE * max(prefix[-1], Fraction(1)):
        return None
    return found[1]


def cut_measure(measure: StaffMeasure, lengths: list[Fraction]) -> list[StaffMeasure]:
    """`measure` cut into len(lengths) bars of about these lengths: each voice's events go to
    the bar in which they start (a clef change goes with the note after it)."""
    bounds = []
    total = Fraction(0)
    for length in lengths[:-1]:
        total += length
        bounds.append(total)
    parts = [StaffMeasure() for _ in lengths]
    parts[0].clef, parts[0].key, parts[0].time = measure.clef, measure.key, measure.time
    clock: dict[int, Fraction] = {}
    pending: list[Event] = []
    for event in measure.events:
        if not isinstance(event, NoteSymbol | RestSymbol):
            pending.append(event)  # a clef change: placed with the next note or rest
            continue
        start = clock.get(event.voice, Fraction(0))
        index = sum(1 for bound in bounds if start >= bound)
        parts[index].events += [*pending, event]
        pending = []
        if not (isinstance(event, NoteSymbol) and event.chord):
            clock[event.voice] = start + event.duration
    parts[-1].events += pending
    return parts


def page_xs(measure: StaffMeasure, column: PageColumn) -> list[float]:
    """Page columns of the measure's notes and rests that the model placed."""
    return [
        column(event.x)
        for event in measure.events
        if isinstance(event, NoteSymbol | RestSymbol) and event.x is not None and math.isfinite(event.x)
    ]


def barline_columns(measures: Sequence[StaffMeasure], column: PageColumn) -> list[float] | None:
    """Where the barlines between `measures` lie on the page: midway between the last placed
    note of one bar and the first of the next; None when a bar has no placed note."""
    spans = []
    for measure in measures:
        xs = page_xs(measure, column)
        if not xs:
            return None
        spans.append((min(xs), max(xs)))
    return [(left[1] + right[0]) / 2 for left, right in itertools.pairwise(spans)]


def group_bars_by_place(bars: Sequence[Sequence[float]], barlines: Sequence[float]) -> list[int] | None:
    """How many bars of the partner (whose `barlines` between its len(barlines) + 1 bars lie at
    these page columns) each of `bars` (the page columns of its notes) stands for, summing to the
    partner's count: the grouping that leaves the fewest pixels of notes outside their group's
    barlines. None when there are not fewer bars than the partner's."""
    m = len(barlines) + 1

    def outside(i: int, first: int, last: int) -> float:
        left = barlines[first - 1] if first > 0 else -math.inf
        right = barlines[last] if last < m - 1 else math.inf
        return sum(max(0.0, left - x, x - right) for x in bars[i])

    found = cheapest_grouping(len(bars), m, outside)
    return None if found is None else found[1]


def cut_measure_at(
    measure: StaffMeasure, barlines: Sequence[float], column: PageColumn
) -> list[StaffMeasure]:
    """`measure` cut into len(barlines) + 1 bars at these page columns: each note or rest goes
    to the bar it lies in (a chord note with its chord, an unplaced one with the note before it,
    never to a bar before its voice's previous note's); a clef change goes with the note after it."""
    parts = [StaffMeasure() for _ in range(len(barlines) + 1)]
    parts[0].clef, parts[0].key, parts[0].time = measure.clef, measure.key, measure.time
    reached: dict[int, int] = {}  # per voice, the bar its last note went to
    pending: list[Event] = []
    for event in measure.events:
        if not isinstance(event, NoteSymbol | RestSymbol):
            pending.append(event)
            continue
        index = reached.get(event.voice, 0)
        x = event.x
        if x is not None and math.isfinite(x) and not (isinstance(event, NoteSymbol) and event.chord):
            index = max(index, sum(1 for barline in barlines if column(x) >= barline))
        reached[event.voice] = index
        parts[index].events += [*pending, event]
        pending = []
    parts[-1].events += pending
    return parts


def _align_by_place(
    staves: Sequence[StaffMeasures], reference: int, columns: Sequence[PageColumn]
) -> list[StaffMeasures] | None:
    """`align_system` by where the notes lie; `reference`: the index of the staff with most bars."""
    barlines = barline_columns(staves[reference].measures, columns[reference])
    if barlines is None:
        return None
    out = []
    for staff, column in zip(staves, columns, strict=True):
        if len(staff.measures) == len(barlines) + 1:
            out.append(staff)
            continue
        groups = group_bars_by_place([page_xs(m, column) for m in staff.measures], barlines)
        if groups is None:
            return None
        measures: list[StaffMeasure] = []
        at = 0
        for measure, size in zip(staff.measures, groups, strict=True):
            cuts = barlines[at : at + size - 1]
            measures += [measure] if size == 1 else cut_measure_at(measure, cuts, column)
            at += size
        out.append(StaffMeasures(measures, staff.trailing))
    return out


def align_system(
    staves: list[StaffMeasures], columns: Sequence[PageColumn] | None = None
) -> list[StaffMeasures] | None:
    """The staves with bars cut so that every staff has as many as the staff with the most;
    None when the counts already agree or neither places nor lengths say where to cut.
    `columns`: each staff's crop column → page column, to align by place where notes are placed."""
    counts = [len(staff.measures) for staff in staves]
    if len(set(counts)) < 2:
        return None
    reference = counts.index(max(counts))
    if columns is not None:
        placed = _align_by_place(staves, reference, columns)
        if placed is not None:
            return placed
    long = [bar_length(m) for m in staves[reference].measures]
    out = []
    for staff in staves:
        if len(staff.measures) == len(long):
            out.append(staff)
            continue
        groups = group_bars([bar_length(m) for m in staff.measures], long)
        if groups is None:
            return None
        measures: list[StaffMeasure] = []
        at = 0
        for measure, size in zip(staff.measures, groups, strict=True):
            measures += [measure] if size == 1 else cut_measure(measure, long[at : at + size])
            at += size
        out.append(StaffMeasures(measures, staff.trailing))
    return out
