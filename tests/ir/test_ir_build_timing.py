"""ir.build (rationals, pitches, ids) and ir.timing (tempo map, beats → seconds)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from etude.ir.v1 import notation_pb2

from ir.build import (
    IdMaker,
    fraction,
    measure_beats,
    note_type,
    pitch_from_spelling,
    rational,
    time_signature,
)
from ir.timing import (
    DEFAULT_QUARTER_BPM,
    TempoChange,
    default_tempo_map,
    seconds_at,
    seconds_between,
    tempo_map_from_changes,
)


def test_rational_round_trip_is_exact_and_reduced() -> None:
    r = rational(Fraction(6, 9))
    assert (r.numerator, r.denominator) == (2, 3)
    assert fraction(r) == Fraction(2, 3)
    assert fraction(rational(Fraction(-1, 3))) == Fraction(-1, 3)
    with pytest.raises(ValueError, match="denominator"):
        fraction(notation_pb2.Rational())


@pytest.mark.parametrize(
    ("step", "alter", "octave", "midi"),
    [("C", 0, 4, 60), ("A", 0, 4, 69), ("B", 1, 3, 60), ("C", -1, 4, 59), ("F", 2, 5, 79), ("C", 0, -1, 0)],
)
def test_pitch_midi_from_spelling(step: str, alter: int, octave: int, midi: int) -> None:
    pitch = pitch_from_spelling(step, alter, octave)
    assert (pitch.midi, pitch.step, pitch.alter, pitch.octave) == (midi, step, alter, octave)


@pytest.mark.parametrize(("step", "alter", "octave"), [("H", 0, 4), ("C", 3, 4), ("G", 1, 9), ("C", -1, -1)])
def test_impossible_pitches_are_refused(step: str, alter: int, octave: int) -> None:
    with pytest.raises(ValueError):
        pitch_from_spelling(step, alter, octave)


def test_enums_ids_and_measure_length() -> None:
    with pytest.raises(ValueError, match="unknown note type"):
        note_type("crotchet")
    ids = IdMaker("p2-")
    assert [ids.note(), ids.note(), ids.rest(), ids.chord()] == ["p2-n1", "p2-n2", "p2-r1", "p2-c1"]
    assert measure_beats(time_signature(3, 8)) == Fraction(3, 2)
    assert measure_beats(time_signature(4, 4, "common")) == 4


def test_default_tempo_is_assumed_120() -> None:
    (event,) = default_tempo_map()
    assert event.assumed and event.quarter_bpm == DEFAULT_QUARTER_BPM == 120.0
    assert seconds_at(Fraction(3), []) == 1.5
    assert seconds_at(Fraction(3), default_tempo_map()) == 1.5


def test_tempo_changes_accumulate_seconds() -> None:
    tempo_map = tempo_map_from_changes([TempoChange(Fraction(8), 60.0, text="Adagio")])
    assert [(fraction(e.at_beats), e.at_seconds, e.quarter_bpm, e.assumed) for e in tempo_map] == [
        (0, 0.0, 120.0, True),
        (8, 4.0, 60.0, False),
    ]
    assert seconds_at(Fraction(10), tempo_map) == 6.0
    assert seconds_between(Fraction(6), Fraction(10), tempo_map) == 3.0
    with pytest.raises(ValueError, match="bpm"):
        tempo_map_from_changes([TempoChange(Fraction(0), 0.0)])
