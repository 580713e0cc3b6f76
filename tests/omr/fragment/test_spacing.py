"""A lone voice that falls short of the metre takes its missing time where its spacing leaves room."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction

from ir.build import fraction
from ir.validate import validate_fragment
from omr_server.fragment.build import build_fragment
from omr_server.fragment.context import ReadingContext
from omr_server.fragment.spacing import onsets_by_spacing
from recognition.symbols import BarlineSymbol, ClefSymbol, NoteSymbol, RestSymbol, StaffSymbol, TimeSymbol
from tests.omr.fragment.test_fragment import _layout
from tests.omr.fragment.test_onsets import SPACE, placed_reading

TRIPLET_ROOM = 2 * SPACE  # room of a triplet eighth
# Nine triplet eighths of a 4/4 bar with a hidden rest after the fifth: the last four start a third
# of a quarter later than read.
LATE_AFTER_THE_FIFTH = {5: Fraction(2), 6: Fraction(7, 3), 7: Fraction(8, 3), 8: Fraction(3)}


def eighth(x: float, accidental: int | None = None, voice: int = 1) -> NoteSymbol:
    return NoteSymbol("C", 5, accidental, "eighth", tuplet=(3, 2), voice=voice, x=x)


def spaced(rooms: list[float], start: float = 40.0) -> list[float]:
    """Columns of notes with `rooms` between them."""
    return list(itertools.accumulate(rooms, initial=start))


def by_spacing(
    events: Sequence[NoteSymbol | RestSymbol | ClefSymbol], expected: Fraction | None
) -> dict[int, Fraction]:
    return onsets_by_spacing(events, expected, float, SPACE)


def test_a_hidden_rest_is_placed_where_the_room_is() -> None:
    # nine triplet eighths of a 4/4 bar (the tenth, a rest, not printed): twice the room after the
    # fifth note, so the four after it start a third of a quarter later
    xs = spaced([TRIPLET_ROOM] * 4 + [2 * TRIPLET_ROOM] + [TRIPLET_ROOM] * 3)
    events = [eighth(x) for x in xs]
    assert by_spacing(events, Fraction(4)) == LATE_AFTER_THE_FIFTH


def test_an_accidental_widens_its_gap_without_making_it_a_rest() -> None:
    xs = spaced([TRIPLET_ROOM] * 4 + [TRIPLET_ROOM + 0.9 * SPACE] + [TRIPLET_ROOM] * 3)
    events = [eighth(x, accidental=1 if k == 5 else None) for k, x in enumerate(xs)]
    assert by_spacing(events, Fraction(4)) == {}
    # before a plain note the same gap is 1.45 rooms, still one; 1.6 rooms round to two: a rest's
    assert by_spacing([eighth(x) for x in xs], Fraction(4)) == {}
    wide = spaced([TRIPLET_ROOM] * 4 + [TRIPLET_ROOM + 1.2 * SPACE] + [TRIPLET_ROOM] * 3)
    assert 5 in by_spacing([eighth(x) for x in wide], Fraction(4))


def test_the_room_of_a_value_is_measured_where_no_accidental_widens_it() -> None:
    # accidentals, each 1.2 spaces wide, before most notes; the hidden rest's room (before an
    # accidental, which fits in it) is twice a plain one
    sharp = {1, 2, 3, 5, 6}
    rooms = [TRIPLET_ROOM + (1.2 * SPACE if k + 1 in sharp else 0.0) for k in range(8)]
    rooms[4] = 2 * TRIPLET_ROOM
    events = [eighth(x, accidental=1 if k in sharp else None) for k, x in enumerate(spaced(rooms))]
    assert by_spacing(events, Fraction(4)) == LATE_AFTER_THE_FIFTH


def test_a_grace_note_or_clef_in_the_gap_takes_its_room() -> None:
    xs = spaced([TRIPLET_ROOM] * 4 + [2 * TRIPLET_ROOM] + [TRIPLET_ROOM] * 3)
    notes = [eighth(x) for x in xs]
    grace = NoteSymbol("D", 5, None, "eighth", grace=True, x=xs[4] + TRIPLET_ROOM)
    assert by_spacing([*notes[:5], grace, *notes[5:]], Fraction(4)) == {}
    clef = ClefSymbol("F", 4)
    assert by_spacing([*notes[:5], clef, *notes[5:]], Fraction(4)) == {}


def test_gaps_are_taken_left_to_right_while_they_fit_the_missing_time() -> None:
    # two wide gaps, a third of a quarter missing: only the first takes it
    rooms = [TRIPLET_ROOM, 2 * TRIPLET_ROOM, TRIPLET_ROOM, TRIPLET_ROOM, 2 * TRIPLET_ROOM]
    events = [eighth(x) for x in spaced([*rooms, TRIPLET_ROOM, TRIPLET_ROOM])]
    # eight triplet eighths: 8/3 of a 3/4 bar's quarters
    assert by_spacing(events, Fraction(3)) == {k: Fraction(k + 1, 3) for k in range(2, 8)}


def test_nothing_moves_without_a_lone_short_voice_with_known_even_places() -> None:
    xs = spaced([TRIPLET_ROOM] * 4 + [2 * TRIPLET_ROOM] + [TRIPLET_ROOM] * 3)
    events = [eighth(x) for x in xs]
    assert by_spacing(events, None) == {}
    assert by_spacing(events, Fraction(3)) == {}  # the bar is full
    assert by_spacing([*events, eighth(400.0, voice=2)], Fraction(4)) == {}  # two voices
    unknown = [*events[:-1], NoteSymbol("C", 5, None, "eighth", tuplet=(3, 2))]
    assert by_spacing(unknown, Fraction(4)) == {}
    backwards = [*events[:-1], eighth(xs[0])]
    assert by_spacing(backwards, Fraction(4)) == {}
    # too few notes of the value to say what room it takes
    few = [eighth(x) for x in spaced([TRIPLET_ROOM, 2 * TRIPLET_ROOM])]
    assert by_spacing(few, Fraction(2)) == {}
    # a gap worth more than the missing time is left alone
    wide = [eighth(x) for x in spaced([TRIPLET_ROOM] * 4 + [3 * TRIPLET_ROOM] + [TRIPLET_ROOM] * 4)]
    assert by_spacing(wide, Fraction(11, 3)) == {}


def test_the_fragment_times_a_lone_short_voice_by_its_spacing() -> None:
    xs = spaced([TRIPLET_ROOM] * 4 + [2 * TRIPLET_ROOM] + [TRIPLET_ROOM] * 3)
    symbols: list[StaffSymbol] = [ClefSymbol("G", 2), TimeSymbol(4, 4)]
    symbols += [NoteSymbol("CDEFGABCD"[k], 5, None, "eighth", tuplet=(3, 2), x=x) for k, x in enumerate(xs)]
    symbols.append(BarlineSymbol())
    fragment, _ = build_fragment(0, _layout(1, 1), [placed_reading(symbols)], ReadingContext())
    assert validate_fragment(fragment) == []
    onsets = [fraction(n.onset_beats) for n in fragment.notes]
    assert onsets == [Fraction(k, 3) for k in range(5)] + [Fraction(k, 3) for k in range(6, 10)]


def test_a_staff_of_a_system_where_another_staff_sounds_keeps_its_time() -> None:
    # the other hand's notes shape the gaps of a piano staff: its spacing times nothing
    xs = spaced([TRIPLET_ROOM] * 4 + [2 * TRIPLET_ROOM] + [TRIPLET_ROOM] * 3)
    upper: list[StaffSymbol] = [ClefSymbol("G", 2), TimeSymbol(4, 4)]
    upper += [NoteSymbol("C", 5, None, "eighth", tuplet=(3, 2), x=x) for x in xs]
    upper.append(BarlineSymbol())
    lower: list[StaffSymbol] = [
        ClefSymbol("F", 4),
        TimeSymbol(4, 4),
        NoteSymbol("C", 3, None, "half", x=40.0),
    ]
    lower.append(BarlineSymbol())
    fragment, _ = build_fragment(
        0, _layout(1, 2), [placed_reading(upper), placed_reading(lower)], ReadingContext()
    )
    upper_onsets = [fraction(n.onset_beats) for n in fragment.notes if n.staff_id.endswith("S1")]
    assert upper_onsets == [Fraction(k, 3) for k in range(9)]
