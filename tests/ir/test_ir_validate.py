"""ir.validate rejects each kind of bad IR, naming the offending element."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from etude.ir.v1 import events_pb2, notation_pb2, score_pb2

from ir.validate import InvalidScoreError, ensure_valid, validate_fragment, validate_score
from tests.ir.factories import IrBuilder


def _builder() -> IrBuilder:
    b = IrBuilder()
    b.measure()
    b.chord(["C4", "E4", "G4"], at=0, type="half")  # n1 n2 n3, chord c1
    b.note("D5", at=2, type="quarter")  # n4
    b.note("E5", at=3, type="quarter", tie_start=True)  # n5
    b.rest(at=0, type="whole", staff=2)  # r1
    b.measure()
    b.note("E5", at=0, type="whole", tie_stop=True)  # n6
    b.note("C3", at=0, type="half", staff=2)  # n7
    b.note("B2", at=2, type="half", staff=2, voice=2)  # n8
    return b


def _score() -> score_pb2.Score:
    return _builder().score()


def _note(score: score_pb2.Score, note_id: str) -> events_pb2.NoteEvent:
    return next(n for n in score.notes if n.id == note_id)


def test_valid_score_and_fragment_have_no_errors() -> None:
    assert validate_score(_score()) == []
    assert validate_fragment(_builder().fragment()) == []
    ensure_valid(_score())


def test_grace_note_may_have_zero_duration() -> None:
    b = _builder()
    b.note("F5", at=0, type="eighth", grace=True)
    assert validate_score(b.score()) == []


def _set(value: notation_pb2.Rational, numerator: int, denominator: int) -> None:
    value.numerator, value.denominator = numerator, denominator


BAD: dict[str, tuple[Callable[[score_pb2.Score], object], str, str]] = {
    # kind: (mutation, expected code, text the error's element must contain)
    "duplicate note id": (lambda s: setattr(s.notes[4], "id", "n4"), "id", "note 'n4'"),
    "note and rest share an id": (lambda s: setattr(s.rests[0], "id", "n1"), "id", "rest 'n1'"),
    "empty note id": (lambda s: setattr(s.notes[3], "id", ""), "id", "note at measure 0"),
    "duplicate chord id": (lambda s: s.chord_groups.add(id="c1", note_ids=["n4"]), "id", "chord 'c1'"),
    "duplicate measure index": (lambda s: setattr(s.measures[1], "index", 0), "measure", "measure 0"),
    "chord member missing": (lambda s: s.chord_groups[0].note_ids.append("n99"), "chord", "chord 'c1'"),
    "chord members at different onsets": (
        lambda s: _set(s.notes[2].onset_beats, 1, 1),
        "chord",
        "chord 'c1'",
    ),
    "chord members in different voices": (lambda s: setattr(s.notes[1], "voice", 2), "chord", "chord 'c1'"),
    "chord members on different staves": (
        lambda s: setattr(s.notes[0], "staff_id", "P1-S2"),
        "chord",
        "chord 'c1'",
    ),
    "note names a missing chord": (
        lambda s: setattr(s.notes[3], "chord_group_id", "c9"),
        "chord",
        "note 'n4'",
    ),
    "measures not contiguous": (lambda s: _set(s.measures[1].start_beats, 5, 1), "measure", "measure 1"),
    "onset outside its measure": (lambda s: setattr(s.notes[3], "measure_index", 1), "measure", "note 'n4'"),
    "onset in a missing measure": (lambda s: setattr(s.notes[3], "measure_index", 7), "measure", "note 'n4'"),
    "note seconds disagree with tempo map": (
        lambda s: setattr(s.notes[3], "onset_seconds", 9.0),
        "seconds",
        "note 'n4'",
    ),
    "measure seconds disagree with tempo map": (
        lambda s: setattr(s.measures[1], "duration_seconds", 1.0),
        "seconds",
        "measure 1",
    ),
    "tempo map not starting at beat 0": (
        lambda s: _set(s.tempo_map[0].at_beats, 1, 1),
        "tempo",
        "tempo event 0",
    ),
    "tempo of zero bpm": (lambda s: setattr(s.tempo_map[0], "quarter_bpm", 0.0), "tempo", "tempo event 0"),
    "zero duration": (lambda s: _set(s.notes[3].duration_beats, 0, 1), "duration", "note 'n4'"),
    "negative rest duration": (lambda s: _set(s.rests[0].duration_beats, -4, 1), "duration", "rest 'r1'"),
    "zero measure duration": (lambda s: _set(s.measures[1].duration_beats, 0, 1), "duration", "measure 1"),
    "midi disagrees with spelling": (lambda s: setattr(s.notes[3].pitch, "midi", 73), "pitch", "note 'n4'"),
    "midi out of range": (
        lambda s: s.notes[3].pitch.CopyFrom(type(s.notes[3].pitch)(midi=132, step="C", alter=0, octave=10)),
        "pitch",
        "note 'n4'",
    ),
    "impossible step": (lambda s: setattr(s.notes[3].pitch, "step", "H"), "pitch", "note 'n4'"),
    "voice zero": (lambda s: setattr(s.notes[6], "voice", 0), "voice", "note 'n7'"),
    "hand not a Hand value": (lambda s: setattr(s.notes[6], "hand", 9), "hand", "note 'n7'"),
    "staff hand not a Hand value": (
        lambda s: setattr(s.parts[0].staves[1], "hand", 7),
        "hand",
        "staff 'P1-S2'",
    ),
    "confidence above 1": (lambda s: setattr(s.notes[6], "confidence", 1.5), "confidence", "note 'n7'"),
    "hand confidence below 0": (
        lambda s: setattr(s.notes[6], "hand_confidence", -0.1),
        "confidence",
        "note 'n7'",
    ),
    "undeclared staff": (lambda s: setattr(s.rests[0], "staff_id", "P1-S3"), "staff", "rest 'r1'"),
    "staff of another part": (lambda s: setattr(s.rests[0], "part_id", "P2"), "staff", "rest 'r1'"),
    "measure clef on undeclared staff": (
        lambda s: setattr(s.measures[0].clefs[1], "staff_id", "P9-S1"),
        "staff",
        "measure 0",
    ),
    "voice list names undeclared staff": (
        lambda s: s.voices.add(staff_id="X", number=1),
        "staff",
        "voice X/1",
    ),
    "zero denominator": (lambda s: _set(s.notes[6].onset_beats, 0, 0), "rational", "note 'n7'"),
    "unset rational": (lambda s: s.notes[6].ClearField("duration_beats"), "rational", "note 'n7'"),
    "bad tuplet": (
        lambda s: s.notes[6].tuplet.CopyFrom(events_pb2.Tuplet(actual_notes=0, normal_notes=2)),
        "duration",
        "note 'n7'",
    ),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_each_kind_of_bad_score_is_rejected_naming_the_element(kind: str) -> None:
    mutate, code, element = BAD[kind]
    score = _score()
    mutate(score)
    errors = validate_score(score)
    assert any(e.code == code and element in e.element for e in errors), f"{kind}: {errors}"
    with pytest.raises(InvalidScoreError) as raised:
        ensure_valid(score)
    assert element in str(raised.value)


def test_fragment_pending_tie_must_name_a_note_of_the_page() -> None:
    fragment = _builder().fragment()
    fragment.end_context.pending_ties.add(staff_id="P1-S1", voice=1, midi=64, from_note_id="n42")
    errors = validate_fragment(fragment)
    assert [e.code for e in errors] == ["reference"]
    assert "n42" in errors[0].element


def test_fragment_seconds_follow_its_start_context_tempo() -> None:
    fragment = _builder().fragment()
    assert validate_fragment(fragment) == []
    fragment.start_context.quarter_bpm = 60.0  # the fragment's seconds were computed at 120
    errors = validate_fragment(fragment)
    assert errors and all(e.code == "seconds" for e in errors)


def test_score_reports_errors_of_its_kept_fragments() -> None:
    score = _score()
    fragment = _builder().fragment()
    fragment.notes[0].pitch.midi = 61
    score.fragments.append(fragment)
    errors = validate_score(score)
    assert len(errors) == 1 and "fragment of page 0, note 'n1'" in errors[0].element


def test_error_message_is_bounded_but_counts_everything() -> None:
    score = _score()
    for note in score.notes:
        note.voice = 0
    with pytest.raises(InvalidScoreError) as raised:
        ensure_valid(score)
    assert len(raised.value.errors) == len(score.notes)
    assert "note 'n1'" in str(raised.value)
