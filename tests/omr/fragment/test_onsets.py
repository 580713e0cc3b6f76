"""A voice that falls short of the metre starts its notes where their columns say."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from ir.build import fraction
from ir.validate import validate_fragment
from omr_server.fragment.build import StaffTokens, build_fragment
from omr_server.fragment.context import ReadingContext
from omr_server.fragment.onsets import COLUMN_SPACES, full_voice_columns
from omr_server.fragment.onsets import onsets_by_place as by_place
from recognition.symbols import BarlineSymbol, ClefSymbol, NoteSymbol, RestSymbol, StaffSymbol, TimeSymbol
from recognition.vocabulary import symbols_to_tokens
from tests.omr.fragment.test_fragment import _layout

SPACE = 8.0  # crop pixels per staff space at the model's input height (96)


def onsets_by_place(
    events: Sequence[NoteSymbol | RestSymbol], expected: Fraction | None
) -> dict[int, Fraction]:
    """One staff on its own, in crop columns."""
    columns = full_voice_columns(events, expected, float)
    return by_place(events, expected, columns, float, COLUMN_SPACES * SPACE)


def note(step: str, x: float | None, kind: str = "quarter", voice: int = 1, **kw: object) -> NoteSymbol:
    return NoteSymbol(step, 5 if voice == 1 else 4, None, kind, voice=voice, x=x, **kw)  # type: ignore[arg-type]


def upper_voice() -> list[NoteSymbol]:
    """Four quarters, one column every 4 staff spaces."""
    return [note(step, 40 + 32 * k) for k, step in enumerate("CDEF")]


def test_a_second_voice_missing_its_rest_starts_in_its_column() -> None:
    # voice 2 printed without its half rest: a half note under the upper voice's third quarter,
    # read a little to the side (a second apart from it), then a quarter under the fourth
    events = [*upper_voice(), note("A", 40 + 64 + 5, "eighth", voice=2), note("B", 40 + 96, voice=2)]
    assert onsets_by_place(events, Fraction(4)) == {4: Fraction(2), 5: Fraction(3)}


def test_full_voices_no_positions_and_no_full_voice_change_nothing() -> None:
    upper = upper_voice()
    complete: list[NoteSymbol | RestSymbol] = [*upper, RestSymbol("half", voice=2, x=40.0)]
    complete.append(note("A", 104, "half", voice=2))
    assert onsets_by_place(complete, Fraction(4)) == {}
    unplaced = [*upper, note("A", None, "half", voice=2)]
    assert onsets_by_place(unplaced, Fraction(4)) == {}
    short = [*upper[:3], note("A", 104, voice=2)]  # the upper voice is short too: nothing to trust
    assert onsets_by_place(short, Fraction(4)) == {}
    assert onsets_by_place([*upper, note("A", 104, voice=2)], None) == {}


def test_a_jump_is_taken_only_inside_the_missing_time_and_one_column() -> None:
    upper = upper_voice()
    # a half note standing at the fourth quarter would overfill the bar: left where it is
    assert onsets_by_place([*upper, note("A", 136, "half", voice=2)], Fraction(4)) == {}
    # a note between two columns (within reach of both) says nothing
    crowded = [note(step, 40 + 1.2 * SPACE * k, "16th") for k, step in enumerate("CDEFGABC")]
    half_x = 40 + 1.2 * SPACE * 7 + 2.5 * SPACE
    crowded.append(note("D", half_x, "half"))
    assert onsets_by_place([*crowded, note("A", 40 + 1.2 * SPACE * 2.5, voice=2)], Fraction(4)) == {}
    alone = note("A", half_x, voice=2)  # under the half note, clear of the 16ths
    assert onsets_by_place([*crowded, alone], Fraction(4)) == {9: Fraction(2)}
    # never backwards: a voice already past the column keeps its time
    early = [*upper, note("G", 40 + 64, "half", voice=2), note("A", 40 + 32, voice=2)]
    assert onsets_by_place(early, Fraction(4)) == {}


def test_a_voice_read_too_long_is_pulled_back_within_its_excess() -> None:
    upper = upper_voice()
    # voice 2's first quarter read as a half: the bar runs a quarter over, and its later notes,
    # each under a column of the upper voice, start a quarter early again from the second on
    lower = [note("G", 40, "half", voice=2), *(note("A", 72 + 32 * k, voice=2) for k in range(3))]
    assert onsets_by_place([*upper, *lower], Fraction(4)) == {5: Fraction(1), 6: Fraction(2), 7: Fraction(3)}
    # back by no more than the excess, and never to or before the previous note's onset
    far = [note("G", 104, "half", voice=2), note("A", 40, voice=2), note("B", 136, voice=2)]
    assert onsets_by_place([*upper, *far], Fraction(4)) == {}
    same = [note("G", 104, "half", voice=2, dots=1), note("A", 40, voice=2)]
    same.append(note("B", 136, "half", voice=2, dots=1))
    assert onsets_by_place([*upper, *same], Fraction(4)) == {}


def placed_reading(symbols: list[StaffSymbol]) -> StaffTokens:
    """The staff's tokens with each note's column, as a model with a position head reads them."""
    tokens = symbols_to_tokens(symbols)
    xs = [float("nan")] * len(tokens)
    anchors = iter(s.x for s in symbols if isinstance(s, NoteSymbol))
    for i, token in enumerate(tokens):
        if token.startswith("pos:"):
            xs[i] = next(anchors)  # type: ignore[assignment]
    return StaffTokens(tokens, [0.9] * len(tokens), xs)


def test_the_fragment_times_the_lagging_voice_by_place() -> None:
    symbols: list[StaffSymbol] = [
        ClefSymbol("G", 2),
        TimeSymbol(4, 4),
        *upper_voice(),
        note("A", 40 + 64, "half", voice=2),
        BarlineSymbol(),
    ]
    reading = placed_reading(symbols)
    tokens, probs = reading.tokens, reading.token_probs
    fragment, _ = build_fragment(0, _layout(1, 1), [reading], ReadingContext())
    assert validate_fragment(fragment) == []
    onsets = {(n.voice, n.pitch.step): fraction(n.onset_beats) for n in fragment.notes}
    assert onsets == {(1, "C"): 0, (1, "D"): 1, (1, "E"): 2, (1, "F"): 3, (2, "A"): 2}
    # without positions the voice keeps its own time, as read
    unplaced, _ = build_fragment(0, _layout(1, 1), [StaffTokens(tokens, probs)], ReadingContext())
    assert {n.pitch.step: fraction(n.onset_beats) for n in unplaced.notes if n.voice == 2} == {"A": 0}


def test_a_full_upper_staff_times_a_short_lower_staff() -> None:
    upper: list[StaffSymbol] = [ClefSymbol("G", 2), TimeSymbol(4, 4), *upper_voice(), BarlineSymbol()]
    # the lower staff read a half note under the third quarter but not the half rest before it
    lower: list[StaffSymbol] = [ClefSymbol("F", 4), TimeSymbol(4, 4), note("C", 104, "half"), BarlineSymbol()]
    fragment, _ = build_fragment(
        0, _layout(1, 2), [placed_reading(upper), placed_reading(lower)], ReadingContext()
    )
    assert validate_fragment(fragment) == []
    lower_notes = [n for n in fragment.notes if n.staff_id.endswith("S2")]
    assert [fraction(n.onset_beats) for n in lower_notes] == [2]
