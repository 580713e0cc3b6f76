"""The MIDI export played back: mido reads the file and runs its clock through every tempo change,
and the notes it sounds are the score's notes, tied notes merged, at the score's times."""

from __future__ import annotations

import io

import mido

from ir.export import export_score
from tests.clients.notes import ir_sounding_notes, midi_sounding_notes
from tests.clients.scores import piano_score


def test_midi_plays_the_score_notes_at_their_times() -> None:
    score = piano_score()
    data, content_type = export_score(score, "midi")
    assert "midi" in content_type
    expected = ir_sounding_notes(score)
    actual = midi_sounding_notes(data)
    assert [(m, s) for m, s, _ in actual] == [(m, s) for m, s, _ in expected]
    # Ends may be shortened a little by an exporter that leaves a gap between repeated notes.
    for (pitch, start, end), (_, _, expected_end) in zip(actual, expected, strict=True):
        assert expected_end - 0.06 <= end <= expected_end + 0.001, (pitch, start, end, expected_end)


def test_midi_is_a_standard_file_with_the_score_tempo() -> None:
    data, _ = export_score(piano_score(), "midi")
    midi = mido.MidiFile(file=io.BytesIO(data))
    assert midi.type in {0, 1}
    tempos = [message.tempo for track in midi.tracks for message in track if message.type == "set_tempo"]
    assert tempos, "no tempo in the file: players would assume 120 bpm"
    assert round(mido.tempo2bpm(tempos[0]), 3) == 96.0
    # 4 measures: 3/4 + 3/4 + 4/4 + 4/4 = 14 quarters at 96 bpm.
    assert abs(midi.length - 14 * 60 / 96) < 0.05
