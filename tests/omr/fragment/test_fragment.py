"""Decoding staff tokens into a PageFragment: measures, chords, accidentals, ties, hands, context."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from etude.ir.v1 import events_pb2, score_pb2

from ir.build import fraction
from ir.validate import validate_fragment
from omr_server.fragment.build import StaffTokens, build_fragment
from omr_server.fragment.context import ReadingContext
from omr_server.staves.layout import PageLayout, Staff, System
from recognition.symbols import (
    BarlineSymbol,
    ClefSymbol,
    KeySymbol,
    NoteSymbol,
    RestSymbol,
    StaffSymbol,
    TimeSymbol,
)
from recognition.vocabulary import symbols_to_tokens


def _staff(top: float) -> Staff:
    return Staff(line_ys=(top, top + 20, top + 40, top + 60, top + 80), left_x=100, right_x=2000)


def _layout(systems: int, staves_per_system: int = 2) -> PageLayout:
    out = []
    top = 100.0
    for _ in range(systems):
        staves = []
        for _ in range(staves_per_system):
            staves.append(_staff(top))
            top += 200
        out.append(System(staves=tuple(staves), braced_pairs=(0,) if staves_per_system == 2 else ()))
        top += 100
    return PageLayout(
        image=np.full((3508, 2480), 255, np.uint8), skew_degrees=0.0, metrics=None, systems=tuple(out)
    )


def _read(symbols: list[StaffSymbol]) -> StaffTokens:
    tokens = symbols_to_tokens(symbols)
    return StaffTokens(tokens, [0.9] * len(tokens))


def note(step: str, octave: int, kind: str = "quarter", **kw: object) -> NoteSymbol:
    return NoteSymbol(step=step, octave=octave, accidental=kw.pop("acc", None), note_type=kind, **kw)  # type: ignore[arg-type]


TREBLE, BASS = ClefSymbol("G", 2), ClefSymbol("F", 4)


def test_grand_staff_page_decodes_to_valid_ir() -> None:
    upper: list[StaffSymbol] = [
        TREBLE,
        KeySymbol(1),
        TimeSymbol(3, 4),
        note("F", 5),
        note("F", 5, acc=0),
        note("F", 5),  # F#, F natural, F natural (held in the measure)
        BarlineSymbol(),
        note("C", 5, "half", tie_start=True),
        note("E", 5, chord=True, kind="half"),
        RestSymbol("quarter"),
        BarlineSymbol(),
    ]
    lower: list[StaffSymbol] = [
        BASS,
        KeySymbol(1),
        TimeSymbol(3, 4),
        note("G", 2, "half", dots=1),
        BarlineSymbol(),
        RestSymbol("whole", full_measure=True),
        BarlineSymbol(),
    ]
    fragment, end = build_fragment(
        2, _layout(1), [_read(upper), _read(lower)], ReadingContext(measures_before=5)
    )
    assert validate_fragment(fragment) == []
    assert len(fragment.measures) == 2
    assert [fraction(m.duration_beats) for m in fragment.measures] == [Fraction(3), Fraction(3)]
    assert fragment.measures[0].key.fifths == 1 and fragment.measures[0].time.numerator == 3
    upper_notes = [n for n in fragment.notes if n.staff_id == "P1-S1"]
    assert [n.pitch.midi for n in upper_notes[:3]] == [78, 77, 77]
    assert {n.hand for n in upper_notes} == {events_pb2.HAND_RIGHT}
    lower_notes = [n for n in fragment.notes if n.staff_id == "P1-S2"]
    assert lower_notes[0].hand == events_pb2.HAND_LEFT and lower_notes[0].pitch.midi == 43
    assert fraction(lower_notes[0].duration_beats) == 3
    chord = fragment.chord_groups[0]
    assert len(chord.note_ids) == 2
    members = [n for n in fragment.notes if n.id in chord.note_ids]
    assert len({fraction(n.onset_beats) for n in members}) == 1
    assert fraction(members[0].onset_beats) == 3
    full_rest = next(r for r in fragment.rests if r.full_measure)
    assert fraction(full_rest.duration_beats) == 3
    assert all(abs(n.confidence - 0.9) < 1e-6 for n in fragment.notes)
    # The tie from C5 stays open at the page end, for the next page to close.
    assert [t.midi for t in fragment.end_context.pending_ties] == [72]
    assert end.key_fifths == 1 and end.clefs["P1-S2"] == BASS
    assert fragment.measures[1].start_seconds == 1.5  # 3 beats at the assumed 120 bpm


def test_context_carries_clef_key_and_ties_to_the_next_page() -> None:
    first, context = build_fragment(
        0,
        _layout(1, 1),
        [
            _read(
                [
                    TREBLE,
                    KeySymbol(-2),
                    TimeSymbol(2, 4),
                    note("B", 4, "half", tie_start=True),
                    BarlineSymbol(),
                ]
            )
        ],
        ReadingContext(),
    )
    second, _ = build_fragment(
        1, _layout(1, 1), [_read([TREBLE, note("B", 4, "half"), BarlineSymbol()])], context
    )
    assert validate_fragment(second) == []
    tied = second.notes[0]
    assert tied.tie_stop and tied.pitch.alter == -1 and tied.pitch.midi == 70
    assert second.start_context.key.fifths == -2
    assert [t.from_note_id for t in second.start_context.pending_ties] == [first.notes[0].id]
    assert not second.end_context.pending_ties


def test_short_first_measure_is_a_pickup_and_overfull_measure_warns() -> None:
    symbols: list[StaffSymbol] = [
        TREBLE,
        TimeSymbol(4, 4),
        note("G", 4),
        BarlineSymbol(),
        *[note("C", 5, "half")] * 3,
        BarlineSymbol(),
    ]
    fragment, _ = build_fragment(0, _layout(1, 1), [_read(symbols)], ReadingContext())
    assert validate_fragment(fragment) == []
    assert fragment.measures[0].incomplete and fraction(fragment.measures[0].duration_beats) == 1
    assert fraction(fragment.measures[1].duration_beats) == 6
    assert [w.code for w in fragment.warnings] == [score_pb2.WARNING_CODE_MEASURE_DURATION]
    assert fragment.parts[0].staves[0].hand == events_pb2.HAND_UNKNOWN


def test_page_without_staves_is_empty_with_a_warning() -> None:
    layout = PageLayout(image=np.full((100, 80), 255, np.uint8), skew_degrees=0.0, metrics=None, systems=())
    fragment, _ = build_fragment(4, layout, [], ReadingContext())
    assert not fragment.measures and not fragment.notes
    assert [w.code for w in fragment.warnings] == [score_pb2.WARNING_CODE_NO_MUSIC]
    assert validate_fragment(fragment) == []


def test_staves_disagreeing_on_measures_are_aligned_with_a_warning() -> None:
    upper: list[StaffSymbol] = [
        TREBLE,
        TimeSymbol(2, 4),
        note("C", 5, "half"),
        BarlineSymbol(),
        note("D", 5, "half"),
        BarlineSymbol(),
    ]
    lower: list[StaffSymbol] = [BASS, TimeSymbol(2, 4), note("C", 3, "half"), BarlineSymbol()]
    fragment, _ = build_fragment(
        0, _layout(1), [_read(upper), _read(lower)], ReadingContext(measures_before=1)
    )
    assert validate_fragment(fragment) == []
    assert len(fragment.measures) == 2
    assert score_pb2.WARNING_CODE_MEASURE_MISMATCH in [w.code for w in fragment.warnings]


def test_voices_keep_their_own_time() -> None:
    symbols: list[StaffSymbol] = [
        TREBLE,
        TimeSymbol(2, 4),
        note("E", 5, "half"),
        note("C", 5, voice=2),
        note("D", 5, voice=2),
        BarlineSymbol(),
    ]
    fragment, _ = build_fragment(0, _layout(1, 1), [_read(symbols)], ReadingContext(measures_before=3))
    assert validate_fragment(fragment) == []
    onsets = {(n.voice, n.pitch.step): fraction(n.onset_beats) for n in fragment.notes}
    assert onsets == {(1, "E"): 0, (2, "C"): 0, (2, "D"): 1}
    assert fraction(fragment.measures[0].duration_beats) == 2 and not fragment.warnings


def test_a_tie_from_an_earlier_page_left_open_on_this_page_ends_with_a_warning() -> None:
    """A misread tie must not name a note two pages back in the end context (invalid IR)."""
    _, context = build_fragment(
        0,
        _layout(1, 1),
        [_read([TREBLE, TimeSymbol(2, 4), note("B", 4, "half", tie_start=True), BarlineSymbol()])],
        ReadingContext(),
    )
    second, after = build_fragment(
        1, _layout(1, 1), [_read([TREBLE, note("D", 5, "half"), BarlineSymbol()])], context
    )
    assert validate_fragment(second) == []
    assert not second.end_context.pending_ties and not after.open_ties
    assert any("is not closed on this page" in w.message for w in second.warnings)
    third, _ = build_fragment(
        2, _layout(1, 1), [_read([TREBLE, note("B", 4, "half"), BarlineSymbol()])], after
    )
    assert not third.notes[0].tie_stop
