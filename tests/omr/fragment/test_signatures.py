"""The staves of a system print one key and one time: where they read different ones, one agrees."""

from __future__ import annotations

from fractions import Fraction

from ir.build import fraction
from ir.validate import validate_fragment
from omr_server.fragment.build import build_fragment
from omr_server.fragment.context import ReadingContext, agreed
from recognition.symbols import BarlineSymbol, ClefSymbol, KeySymbol, NoteSymbol, StaffSymbol, TimeSymbol
from tests.omr.fragment.test_fragment import _layout, _read


def test_the_current_signature_stays_unless_every_staff_reads_a_change() -> None:
    assert agreed([1, 3], 1) == 1 and agreed([3, 1], 1) == 1
    assert agreed([3, 3], 1) == 3  # a change both staves read
    assert agreed([2, 3], 1) == 2  # neither is current: the upper staff's
    assert agreed([2, 3, 3], None) == 3
    assert agreed([], 1) is None
    assert agreed([TimeSymbol(3, 4), TimeSymbol(2, 4)], TimeSymbol(2, 4)) == TimeSymbol(2, 4)


def test_a_key_misread_on_one_staff_does_not_change_the_system() -> None:
    def staff(clef: ClefSymbol, key: int, step: str, octave: int) -> list[StaffSymbol]:
        note = NoteSymbol(step, octave, None, "whole")
        return [clef, KeySymbol(key), TimeSymbol(4, 4), note, BarlineSymbol(), note, BarlineSymbol()]

    context = ReadingContext(key_fifths=1)  # G major from the page before
    upper = staff(ClefSymbol("G", 2), 1, "C", 5)
    lower = staff(ClefSymbol("F", 4), 3, "C", 3)  # three sharps read where one is printed
    fragment, end = build_fragment(0, _layout(1, 2), [_read(upper), _read(lower)], context)
    assert validate_fragment(fragment) == []
    assert {n.pitch.midi for n in fragment.notes} == {72, 48}  # C natural in both staves
    assert [m.key.fifths for m in fragment.measures] == [1, 1]
    assert end.key_fifths == 1
    assert all(fraction(m.duration_beats) == Fraction(4) for m in fragment.measures)
