"""IR → MIDI (mido) → parsed back with mido: the same pitches, onsets and seconds."""

from __future__ import annotations

import io
from fractions import Fraction

import mido
import pytest
from etude.ir.v1 import score_pb2

from ir.build import fraction
from ir.midi import TICKS_PER_QUARTER, to_midi
from tests.ir.factories import IrBuilder, rich_score


def _parse(data: bytes) -> mido.MidiFile:
    return mido.MidiFile(file=io.BytesIO(data))


def _notes_by_track(midi: mido.MidiFile) -> list[list[tuple[Fraction, Fraction, int]]]:
    """(onset beat, duration, pitch) per track, from absolute ticks."""
    tracks = []
    for track in midi.tracks:
        now, started, notes = 0, {}, []
        for message in track:
            now += message.time
            if message.type == "note_on" and message.velocity > 0:
                started[message.note] = now
            elif message.type in ("note_off", "note_on"):
                begin = started.pop(message.note)
                notes.append(
                    (
                        Fraction(begin, TICKS_PER_QUARTER),
                        Fraction(now - begin, TICKS_PER_QUARTER),
                        message.note,
                    )
                )
        tracks.append(sorted(notes))
    return tracks


def _expected(score: score_pb2.Score, staff_id: str) -> list[tuple[Fraction, Fraction, int]]:
    """Non-grace notes of a staff with tied chains merged by hand."""
    notes = sorted(
        (fraction(n.onset_beats), fraction(n.duration_beats), n.pitch.midi, n.tie_stop)
        for n in score.notes
        if n.staff_id == staff_id and not n.grace
    )
    merged: list[tuple[Fraction, Fraction, int]] = []
    for onset, duration, midi, tie_stop in notes:
        previous = next((m for m in reversed(merged) if m[2] == midi and m[0] + m[1] == onset), None)
        if tie_stop and previous is not None:
            merged[merged.index(previous)] = (previous[0], previous[1] + duration, midi)
        else:
            merged.append((onset, duration, midi))
    return sorted(merged)


def test_round_trip_gives_the_same_pitches_and_onsets() -> None:
    score = rich_score()
    midi = _parse(to_midi(score))
    assert midi.type == 1 and midi.ticks_per_beat == TICKS_PER_QUARTER
    conductor, upper, lower = _notes_by_track(midi)
    assert conductor == []
    grace = next(n for n in score.notes if n.grace)
    assert [n for n in upper if n[0] != fraction(grace.onset_beats) - Fraction(1, 16)] == _expected(
        score, "P1-S1"
    )
    assert (fraction(grace.onset_beats) - Fraction(1, 16), Fraction(1, 16), grace.pitch.midi) in upper
    assert lower == _expected(score, "P1-S2")
    tied = next(n for n in upper if n[2] == 74 and n[0] == 4)
    assert tied[1] == 5  # D5 tied over three notes (1 + 2 + 2 beats) sounds as one


def test_tempo_map_gives_the_ir_seconds() -> None:
    b = IrBuilder(quarter_bpm=90.0)
    b.measure()
    b.note("C4", at=0, type="whole")
    b.measure(tempo=45.0)
    b.note("E4", at=2, type="half")
    score = b.score()
    midi = _parse(to_midi(score))
    now, onsets = 0.0, []
    for message in midi:  # mido plays the merged tracks in seconds through the set_tempo events
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            onsets.append((now, message.note))
    # MIDI tempos are whole microseconds per quarter: 45 bpm is off by 1/3 µs a beat.
    expected = [(pytest.approx(n.onset_seconds, abs=1e-5), n.pitch.midi) for n in score.notes]
    assert onsets == expected
    assert onsets[1][0] == pytest.approx(4 * 60 / 90 + 2 * 60 / 45, abs=1e-5)
    tempos = [m.tempo for m in midi.tracks[0] if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(90.0), mido.bpm2tempo(45.0)]
    meta = {m.type: m for m in midi.tracks[0] if m.is_meta}
    assert meta["time_signature"].numerator == 4 and meta["key_signature"].key == "C"


def test_each_staff_gets_its_own_channel() -> None:
    midi = _parse(to_midi(rich_score()))
    channels = [{m.channel for m in t if m.type == "note_on"} for t in midi.tracks[1:]]
    assert channels == [{0}, {1}]
