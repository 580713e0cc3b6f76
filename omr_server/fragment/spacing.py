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
from fractions import Fraction

from omr_server.fragment.onsets import Event, ToPage, timeline, voice_lengths
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
    # Room after each note but the last (whose room up to the barline is unknown); None where a
    # grace note or a clef stands in it and takes its own room.
    rooms: list[float | None] = []
    for k, (left, right) in enumerate(itertools.pairwise(xs), start=1):
        between = events[timed[k - 1].index + 1 : timed[k].index]
        if any(isinstance(e, ClefSymbol) or (isinstance(e, NoteSymbol) and e.grace) for e in between):
            rooms.append(None)
            continue
        following = events[timed[k].index]
        widened = isinstance(following, NoteSymbol) and following.accidental is not None
        rooms.append(right - left - (ACCIDENTAL_SPACES * space if widened else 0.0))
    peers: dict[Fraction, list[float]] = {}
    for t, room in zip(timed[:-1], rooms, strict=True):
        if room is not None:
            peers.setdefault(t.duration, []).append(room)
    moved: dict[int, Fraction] = {}
    shift = Fraction(0)
    for k, t in enumerate(timed):
        if shift:
            moved[t.index] = t.onset + shift
        room = rooms[k] if k < len(rooms) else None
        if room is None or len(peers[t.duration]) < MIN_PEERS:
            continue
        slots = int(room / statistics.median(peers[t.duration]) + 0.5) - 1
        if slots >= 1 and shift + slots * t.duration <= missing:
            shift += slots * t.duration
    return moved
