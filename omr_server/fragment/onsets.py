"""Onsets of a voice that lags, taken from where its notes stand.

Inside a measure each voice keeps its own time cursor, so a voice missing a rest starts every
later note too early. Editions often print no rests for a second voice that enters mid-bar, and
the model can miss a printed one. Engraving puts events that sound together in one column,
so when one voice fills the metre exactly (its onsets can be trusted) and another falls short,
each note of the short voice that stands in the column of a full voice's event may start at
that event's onset: the lag it closes is a rest that was not printed or not read. Only forward
jumps that the short voice's missing time covers are taken, so no voice ever overfills the bar.
A voice that runs past the bar (a duration read too long) is pulled back the same way, by no
more than its excess.
The staves of a system share their columns, so a full voice of one staff also times the short
voices of the others (a lower staff missing a rest under a full upper staff).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from recognition.symbols import ClefSymbol, NoteSymbol, RestSymbol

Event = NoteSymbol | RestSymbol | ClefSymbol
Column = tuple[float, Fraction]  # a page column where an event of a full voice starts, its onset
ToPage = Callable[[float], float]  # the staff's crop column -> page column

# How far (staff spaces) a note may stand from a column to be in it: noteheads of two voices a
# second apart stand side by side, about a notehead (1.2 spaces) apart.
COLUMN_SPACES = 1.4


@dataclass(frozen=True)
class Timed:
    index: int  # in the measure's events
    voice: int
    onset: Fraction
    duration: Fraction
    x: float | None


def timeline(events: Sequence[Event]) -> list[Timed]:
    """Every note or rest that moves its voice's cursor (chord notes and grace notes do not)."""
    cursors: dict[int, Fraction] = {}
    out = []
    for i, event in enumerate(events):
        if isinstance(event, ClefSymbol) or (isinstance(event, RestSymbol) and event.full_measure):
            continue
        if isinstance(event, NoteSymbol) and (event.chord or event.grace):
            continue
        onset = cursors.get(event.voice, Fraction(0))
        out.append(Timed(i, event.voice, onset, event.duration, event.x))
        cursors[event.voice] = onset + event.duration
    return out


def voice_lengths(timed: Sequence[Timed]) -> dict[int, Fraction]:
    """Where each voice of a measure's timeline ends (quarters)."""
    lengths: dict[int, Fraction] = {}
    for t in timed:
        lengths[t.voice] = t.onset + t.duration
    return lengths


def full_voice_columns(events: Sequence[Event], expected: Fraction | None, to_page: ToPage) -> list[Column]:
    """Where the events of the staff's voices that fill `expected` quarters exactly start."""
    if expected is None:
        return []
    timed = timeline(events)
    full = {v for v, length in voice_lengths(timed).items() if length == expected}
    return [(to_page(t.x), t.onset) for t in timed if t.voice in full and t.x is not None]


def _column_onset(x: float, columns: Sequence[Column], reach: float) -> Fraction | None:
    """The onset of the one column within `reach` of `x`; None when none is, or two are."""
    near = [onset for column, onset in columns if abs(column - x) <= reach]
    return near[0] if len(set(near)) == 1 else None


def onsets_by_place(
    events: Sequence[Event],
    expected: Fraction | None,
    columns: Sequence[Column],
    to_page: ToPage,
    reach: float,
) -> dict[int, Fraction]:
    """For events of a staff's measure (indices into `events`) in voices that do not fill
    `expected` quarters exactly, the onset the system's full-voice `columns` say they start at
    (`reach`: page pixels, `COLUMN_SPACES` of the staff's spaces); empty when nothing moves.

    A short voice only moves forward, by at most the time it is missing (a rest not printed or
    not read); a voice longer than the bar only moves back, by at most its excess (a duration
    read too long), and never to or before its previous note's onset."""
    if expected is None or not columns:
        return {}
    timed = timeline(events)
    moved: dict[int, Fraction] = {}
    for voice, length in voice_lengths(timed).items():
        if length == expected:
            continue
        slack, shift = abs(expected - length), Fraction(0)
        previous: Fraction | None = None
        for t in (t for t in timed if t.voice == voice):
            onset = t.onset + shift
            target = _column_onset(to_page(t.x), columns, reach) if t.x is not None else None
            if target is not None and _may_move(onset, target, slack, length < expected, previous):
                slack -= abs(target - onset)
                shift += target - onset
                onset = target
            if shift:
                moved[t.index] = onset
            previous = onset
    return moved


def _may_move(
    onset: Fraction, target: Fraction, slack: Fraction, short: bool, previous: Fraction | None
) -> bool:
    if short:
        return onset < target <= onset + slack
    return onset - slack <= target < onset and (previous is None or target > previous)
