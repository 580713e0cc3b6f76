"""A system's staves share their barlines: a barline one staff missed is restored from the other."""

from dataclasses import replace
from fractions import Fraction

from omr_server.fragment.grand_staff import align_system, group_bars
from omr_server.fragment.measures import StaffMeasures, split_measures
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


def placed(symbol: NoteSymbol, x: float) -> NoteSymbol:
    return replace(symbol, x=x)


def steps_of(staff: StaffMeasures) -> list[list[str]]:
    return [[e.step for e in m.events if isinstance(e, NoteSymbol)] for m in staff.measures]


def same_column(column: float) -> float:
    return column


def test_a_skipped_bar_is_found_where_its_partner_has_it() -> None:
    # 2/4: the upper staff reads three bars; the lower one skipped the first. All bars are full,
    # so lengths cannot say which bar is missing; where the notes lie can.
    upper = split_measures(
        [
            placed(quarter("C"), 10), placed(quarter("D"), 50), BAR,
            placed(quarter("E"), 110), placed(quarter("F"), 150), BAR,
            placed(quarter("G"), 210), placed(quarter("A"), 250), BAR,
        ]
    )  # fmt: skip
    lower = split_measures([placed(half("E"), 115), BAR, placed(half("G"), 215), BAR])
    aligned = align_system([upper, lower], [same_column, same_column])
    assert aligned is not None
    assert aligned[0] is upper
    assert steps_of(aligned[1]) == [[], ["E"], ["G"]]
    assert align_system([upper, lower]) is None  # two full bars cannot stand for three by length


def test_a_missed_barline_is_cut_where_the_partner_has_it_whatever_the_lengths() -> None:
    # The upper staff missed a barline and misread a duration (2.5 quarters for two 2/4 bars):
    # no grouping fits the lengths, but the notes lie left and right of the partner's barline.
    eighth = NoteSymbol("C", 4, None, "eighth")
    upper = split_measures([placed(eighth, 20), placed(quarter("D"), 120), placed(quarter("E"), 160), BAR])
    lower = split_measures([placed(half("C"), 10), BAR, placed(half("D"), 110), BAR])
    assert align_system([upper, lower]) is None
    aligned = align_system([upper, lower], [same_column, same_column])
    assert aligned is not None
    assert steps_of(aligned[0]) == [["C"], ["D", "E"]]


def test_chord_notes_stay_with_their_chord_and_voices_never_go_back() -> None:
    upper = split_measures(
        [
            placed(quarter("C"), 20), replace(placed(quarter("B"), 70), chord=True),
            placed(quarter("D"), 80), placed(quarter("E"), 40), replace(placed(half("G"), 30), voice=2), BAR,
        ]
    )  # fmt: skip
    lower = split_measures([placed(half("C"), 10), BAR, placed(half("D"), 110), BAR])  # barline at 60
    aligned = align_system([upper, lower], [same_column, same_column])
    assert aligned is not None
    # B (x 70) is struck with C: it stays in C's bar; E (x 40, a misplaced column) comes after D
    # in its voice and cannot go back a bar; voice 2's G is placed on its own.
    assert steps_of(aligned[0]) == [["C", "B", "G"], ["D", "E"]]


def test_unplaced_notes_fall_back_to_lengths() -> None:
    upper = split_measures([quarter("C"), quarter("D"), quarter("E"), quarter("F"), BAR])
    lower = split_measures([half("C"), BAR, half("D"), BAR])
    aligned = align_system([upper, lower], [same_column, same_column])
    assert aligned is not None
    assert steps_of(aligned[0]) == [["C", "D"], ["E", "F"]]
