"""A system's staves share their barlines: a barline one staff missed is restored from the other."""

from fractions import Fraction

from omr_server.fragment.grand_staff import align_system, group_bars
from omr_server.fragment.measures import split_measures
from recognition.symbols import BarlineSymbol, ClefSymbol, NoteSymbol, RestSymbol


def quarter(step: str, voice: int = 1) -> NoteSymbol:
    return NoteSymbol(step, 4, None, "quarter", voice=voice)


def half(step: str) -> NoteSymbol:
    return NoteSymbol(step, 3, None, "half")


BAR = BarlineSymbol("regular")


def test_a_missed_barline_is_restored_from_the_other_staff() -> None:
    # upper staff: three 2/4 bars, the barline after the second bar missed
    upper = split_measures(
        [quarter("C"), quarter("D"), BAR, quarter("E"), quarter("F"), quarter("G"), quarter("A"), BAR]
    )
    lower = split_measures([half("C"), BAR, half("D"), BAR, half("E"), BAR])
    assert [len(s.measures) for s in (upper, lower)] == [2, 3]
    aligned = align_system([upper, lower])
    assert aligned is not None
    fixed, same = aligned
    assert same is lower
    steps = [[e.step for e in m.events if isinstance(e, NoteSymbol)] for m in fixed.measures]
    assert steps == [["C", "D"], ["E", "F"], ["G", "A"]]


def test_voices_and_clef_changes_are_cut_by_their_own_time() -> None:
    upper = split_measures(
        [
            quarter("C"), quarter("D"), ClefSymbol("F", 4), quarter("E"), quarter("F"),
            RestSymbol("half", voice=2), RestSymbol("half", voice=2), BAR,
        ]
    )  # fmt: skip
    lower = split_measures([half("C"), BAR, half("D"), BAR])
    aligned = align_system([upper, lower])
    assert aligned is not None
    first, second = aligned[0].measures
    assert [type(e).__name__ for e in first.events] == ["NoteSymbol", "NoteSymbol", "RestSymbol"]
    assert [type(e).__name__ for e in second.events] == [
        "ClefSymbol",
        "NoteSymbol",
        "NoteSymbol",
        "RestSymbol",
    ]


def test_lengths_that_do_not_fit_leave_the_staves_as_read() -> None:
    two, four = Fraction(2), Fraction(4)
    assert group_bars([four, Fraction(1)], [two, two, two]) is None  # 3 bars of 2 cannot be 4 + 1
    assert group_bars([four, two], [two, two, two]) == [2, 1]
    upper = split_measures([quarter("C"), quarter("D"), quarter("E"), BAR])
    lower = split_measures([half("C"), BAR, half("D"), BAR, half("E"), BAR])
    assert align_system([upper, lower]) is None
    assert align_system([lower, lower]) is None
