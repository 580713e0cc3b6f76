"""Read the staves of a system as one: they share their barlines.

When the staves of a system were read with different bar counts, one of them missed (or saw)
a barline. Aligning them from the left would put every later bar of that staff beside the
wrong bar of its partner. Instead, each bar of a staff with fewer bars is matched, by length,
with one or more consecutive bars of the staff with the most; a bar that stands for several is
cut where its partner's barlines fall (per voice, between notes). When no matching fits the
lengths well, the staves stay as read (and the caller warns).
"""

from __future__ import annotations

from fractions import Fraction

from omr_server.fragment.measures import Event, StaffMeasure, StaffMeasures
from recognition.symbols import NoteSymbol, RestSymbol

MAX_GROUP = 3  # bars of the partner one read bar may stand for
# A matching is trusted when its lengths differ by at most this share of the system's length.
TOLERANCE = Fraction(1, 8)


def bar_length(measure: StaffMeasure) -> Fraction:
    """The longest voice of a measure, in quarters."""
    voices: dict[int, Fraction] = {}
    for event in measure.events:
        if isinstance(event, NoteSymbol | RestSymbol) and not (isinstance(event, NoteSymbol) and event.chord):
            voices[event.voice] = voices.get(event.voice, Fraction(0)) + event.duration
    return max(voices.values(), default=Fraction(0))


def group_bars(short: list[Fraction], long: list[Fraction]) -> list[int] | None:
    """How many bars of `long` each bar of `short` stands for (summing to len(long)), choosing
    the grouping whose lengths differ least; None when no grouping is within TOLERANCE."""
    n, m = len(short), len(long)
    if n == 0 or n >= m:
        return None
    prefix = [Fraction(0)]
    for length in long:
        prefix.append(prefix[-1] + length)
    worst = Fraction(10**9)
    # best[i][j]: least total mismatch covering short[:i] with long[:j]
    best = [[worst] * (m + 1) for _ in range(n + 1)]
    choice = [[0] * (m + 1) for _ in range(n + 1)]
    best[0][0] = Fraction(0)
    for i in range(1, n + 1):
        for j in range(i, m + 1):
            for k in range(1, min(MAX_GROUP, j) + 1):
                previous = best[i - 1][j - k]
                if previous == worst:
                    continue
                cost = previous + abs(short[i - 1] - (prefix[j] - prefix[j - k]))
                if cost < best[i][j]:
                    best[i][j], choice[i][j] = cost, k
    if best[n][m] == worst or best[n][m] > TOLERANCE * max(prefix[m], Fraction(1)):
        return None
    groups = []
    j = m
    for i in range(n, 0, -1):
        groups.append(choice[i][j])
        j -= choice[i][j]
    return groups[::-1]


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


def align_system(staves: list[StaffMeasures]) -> list[StaffMeasures] | None:
    """The staves with bars cut so that every staff has as many as the staff with the most;
    None when the counts already agree or the lengths do not say where to cut."""
    counts = [len(staff.measures) for staff in staves]
    if len(set(counts)) < 2:
        return None
    reference = staves[counts.index(max(counts))]
    long = [bar_length(m) for m in reference.measures]
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
