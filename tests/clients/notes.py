"""The notes a score holds, read three ways so they can be compared: from the IR itself, from a
MusicXML file as music21 reads it, and from a MIDI file as a player would sound it.

Written notes are `(staff, midi, onset, duration)` with times in quarter notes from the start of
the score (tied notes stay separate, grace notes are left out: both as notated). Sounding notes
are `(midi, start_seconds, end_seconds)` with tied notes merged, as a synthesiser plays them.
"""

from __future__ import annotations

import io
from collections import Counter
from fractions import Fraction
from pathlib import Path

from etude.ir.v1 import score_pb2

WrittenNote = tuple[int, int, Fraction, Fraction]
SoundingNote = tuple[int, float, float]


def _fraction(value: object) -> Fraction:
    return Fraction(value.numerator, value.denominator)  # type: ignore[attr-defined]


def staff_numbers(score: score_pb2.Score) -> dict[str, int]:
    """Staff id → 1-based position among all staves, top to bottom (parts in order)."""
    ids = [staff.id for part in score.parts for staff in part.staves]
    return {staff_id: position for position, staff_id in enumerate(ids, start=1)}


def ir_written_notes(score: score_pb2.Score) -> Counter[WrittenNote]:
    staves = staff_numbers(score)
    return Counter(
        (staves[note.staff_id], note.pitch.midi, _fraction(note.onset_beats), _fraction(note.duration_beats))
        for note in score.notes
        if not note.grace
    )


def music21_written_notes(musicxml: bytes | Path) -> Counter[WrittenNote]:
    """Notes of a MusicXML file as music21 parses it; staves numbered top to bottom."""
    import music21

    data = musicxml.read_bytes() if isinstance(musicxml, Path) else musicxml
    parsed = music21.converter.parseData(data, format="musicxml", forceSource=True)
    assert isinstance(parsed, music21.stream.Score), type(parsed)
    notes: Counter[WrittenNote] = Counter()
    for staff, part in enumerate(parsed.parts, start=1):
        for element in part.flatten().notes:
            if element.duration.isGrace:
                continue
            onset = Fraction(element.offset).limit_denominator(1024)
            duration = Fraction(element.duration.quarterLength).limit_denominator(1024)
            for pitch in element.pitches:
                notes[(staff, int(pitch.midi), onset, duration)] += 1
    return notes


def ir_sounding_notes(score: score_pb2.Score) -> list[SoundingNote]:
    """What a player sounds: tie chains merged into one note, grace notes left out."""
    ordered = sorted(
        (note for note in score.notes if not note.grace), key=lambda note: _fraction(note.onset_beats)
    )
    open_ties: dict[tuple[str, int, int], list[float]] = {}
    sounding: list[list[float]] = []
    for note in ordered:
        key = (note.staff_id, note.voice, note.pitch.midi)
        end = note.onset_seconds + note.duration_seconds
        if note.tie_stop and key in open_ties:
            chain = open_ties.pop(key)
            chain[2] = end
        else:
            chain = [float(note.pitch.midi), note.onset_seconds, end]
            sounding.append(chain)
        if note.tie_start:
            open_ties[key] = chain
    return sorted((int(m), round(start, 3), round(end, 3)) for m, start, end in sounding)


def midi_sounding_notes(midi: bytes) -> list[SoundingNote]:
    """Plays the file through mido's clock (tempo changes applied, no sleeping): note on → off."""
    import mido

    playing: dict[tuple[int, int], list[float]] = {}
    notes: list[SoundingNote] = []
    now = 0.0
    for message in mido.MidiFile(file=io.BytesIO(midi)):
        now += message.time
        if message.type not in {"note_on", "note_off"}:
            continue
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            playing.setdefault(key, []).append(now)
        elif playing.get(key):
            start = playing[key].pop(0)
            notes.append((message.note, round(start, 3), round(now, 3)))
    hanging = {key: starts for key, starts in playing.items() if starts}
    assert not hanging, f"notes never switched off: {hanging}"
    return sorted(notes)


def describe_difference(expected: Counter[WrittenNote], actual: Counter[WrittenNote]) -> str:
    missing = expected - actual
    extra = actual - expected
    return f"missing {sorted(missing.elements())[:10]}, unexpected {sorted(extra.elements())[:10]}"
