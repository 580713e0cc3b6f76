"""Onsets of a lone voice that falls short, taken from how its notes are spaced.

Engraving gives each note room by its value, so inside a bar the notes of one value stand about
equally far apart. When the one voice of the only staff of its system that sounds in the bar
(a melody line; in a piano system the other hand's notes shape the gaps) does not fill the metre,
the time it misses is most likely where the spacing leaves room for it: a rest the print hides
(a one-line excerpt whose melody moves into another voice), a note the model missed, or a value
read too short. A note followed by about k + 1 times the room its peers of the same value take
gets k more of its value after it. Gaps are taken left to right while they fit in the missing
time; what is left stays at the end of the bar, as before.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from omr_server.fragment.onsets import Event, Timed, ToPage, timeline, voice_lengths
from recognition.symbols import ClefSymbol, NoteSymbol

# Notes of one value in the bar needed to say how much room that value takes.
MIN_PEERS = 3
# An accidental widens the gap before its note by about half a staff space more than spacing gives.
ACCIDENTAL_SPACES = 0.5


def onsets_by_spacing(
    events: Sequence[Event], expected: Fraction | None, to_page: ToPage, space: float
) -> dict[int, Fraction]:
    """For the events of a staff's measure (indices into `events`) whose one voice falls short of
    `expected` quarters, the onsets the spacing gives them (`space`: the staff's line spacing in
    page pixels); empty when the staff has several voices, a position is unknown, or nothing moves."""
    timed = timeline(events)
    lengths = voice_lengths(timed)
    if expected is None or len(lengths) != 1 or any(t.x is None for t in timed):
        return {}
    missing = expected - next(iter(lengths.values()))
    xs = [to_page(t.x) for t in timed if t.x is not None]
    if missing <= 0 or any(right <= left for left, right in itertools.pairwise(xs)):
        return {}
    gaps = _gaps(events, timed, xs, space)
    usual = _usual_rooms(timed, gaps)
    moved: dict[int, Fraction] = {}
    shift = Fraction(0)
    for k, t in enumerate(timed):
        if shift:
            moved[t.index] = t.onset + shift
        room = gaps[k].room if k < len(gaps) else None
        if room is None or t.duration not in usual:
            continue
        slots = int(room / usual[t.duration] + 0.5) - 1
        if slots >= 1 and shift + slots * t.duration <= missing:
            shift += slots * t.duration
    return moved


@dataclass(frozen=True)
class _Gap:
    room: float | None  # page pixels, an accidental's allowance taken off; None: a grace or clef in it
    widened: bool  # the note after it shows an accidental


def _gaps(events: Sequence[Event], timed: Sequence[Timed], xs: Sequence[float], space: float) -> list[_Gap]:
    """The gap after each note but the last (whose room up to the barline is unknown); a gap
    that holds a grace note or a clef has no room to go by."""
    gaps = []
    for k, (left, right) in enumerate(itertools.pairwise(xs), start=1):
        between = events[timed[k - 1].index + 1 : timed[k].index]
        following = events[timed[k].index]
        widened = isinstance(following, NoteSymbol) and following.accidental is not None
        if any(isinstance(e, ClefSymbol) or (isinstance(e, NoteSymbol) and e.grace) for e in between):
            gaps.append(_Gap(None, widened))
        else:
            gaps.append(_Gap(right - left - (ACCIDENTAL_SPACES * space if widened else 0.0), widened))
    return gaps


def _usual_rooms(timed: Sequence[Timed], gaps: Sequence[_Gap]) -> dict[Fraction, float]:
    """The median room after notes of each value with MIN_PEERS or more gaps, taken from the
    gaps no accidental widens when there are enough of them."""
    every: dict[Fraction, list[float]] = {}
    plain: dict[Fraction, list[float]] = {}
    for t, gap in zip(timed[:-1], gaps, strict=True):  # the last note has no gap
        if gap.room is not None:
            every.setdefault(t.duration, []).append(gap.room)
            if not gap.widened:
                plain.setdefault(t.duration, []).append(gap.room)
    usual = {}
    for value, rooms in every.items():
        chosen = plain.get(value, [])
        if len(chosen) < MIN_PEERS:
            chosen = rooms
        if len(chosen) >= MIN_PEERS:
            usual[value] = statistics.median(chosen)
    return usual
