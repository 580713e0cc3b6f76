"""A notehead read twice (shared by two voices) becomes one note."""

from __future__ import annotations

from ir.build import fraction
from ir.validate import validate_fragment
from omr_server.fragment.build import build_fragment
from omr_server.fragment.context import ReadingContext
from recognition.symbols import BarlineSymbol, ClefSymbol, NoteSymbol, StaffSymbol, TimeSymbol
from tests.omr.fragment.test_fragment import _layout
from tests.omr.fragment.test_onsets import SPACE, placed_reading


def head(step: str, x: float, voice: int, **kw: object) -> NoteSymbol:
    return NoteSymbol(step, 4, None, "quarter", voice=voice, x=x, **kw)  # type: ignore[arg-type]


def read(*measures: list[NoteSymbol]) -> list[tuple[int, int, str, bool, bool]]:
    symbols: list[StaffSymbol] = [ClefSymbol("G", 2), TimeSymbol(2, 4)]
    for notes in measures:
        symbols += [*notes, BarlineSymbol()]
    fragment, _ = build_fragment(0, _layout(1, 1), [placed_reading(symbols)], ReadingContext())
    assert validate_fragment(fragment) == []
    return [
        (n.measure_index, n.voice, f"{n.pitch.step}{fraction(n.onset_beats)}", n.tie_start, n.tie_stop)
        for n in fragment.notes
    ]


def test_two_voices_sharing_a_notehead_give_one_note() -> None:
    # voice 2 shares the upper voice's G (one head, two stems), then moves a second below its A
    upper = [head("G", 40, 1), head("A", 72, 1)]
    lower = [head("G", 40.5, 2), head("F", 72.5, 2)]
    assert read([*upper, *lower]) == [
        (0, 1, "G0", False, False),
        (0, 1, "A1", False, False),
        (0, 2, "F1", False, False),
    ]


def test_the_same_pitch_at_another_place_stays() -> None:
    # one pitch at one onset (as read) but three spaces apart: two noteheads, whatever the onsets say
    upper = [head("G", 40, 1), head("A", 72, 1)]
    lower = [head("G", 40 + 3 * SPACE, 2)]
    assert len(read([*upper, *lower])) == 3


def test_a_tie_from_the_dropped_note_goes_on_from_the_kept_one() -> None:
    first = [head("G", 40, 1), head("A", 72, 1), head("G", 40, 2, tie_start=True), head("F", 72, 2)]
    second = [head("G", 120, 1), head("A", 152, 1)]
    notes = read(first, second)
    assert (0, 1, "G0", True, False) in notes
    assert (1, 1, "G2", False, True) in notes
    assert len(notes) == 5
