"""Score → Standard MIDI File (type 1), through mido.

Notes are placed by their exact beats (480 ticks per quarter) and the tempo map becomes
set_tempo events in a conductor track, so a player reproduces the IR's seconds. One track and
one channel per staff (channel 10, drums, is skipped); tied notes sound as one; grace notes get
a short 1/16-quarter slot just before their beat.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from fractions import Fraction

import mido
from etude.ir.v1 import events_pb2, score_pb2

from ir.build import fraction

TICKS_PER_QUARTER = 480
VELOCITY = 80
GRACE_BEATS = Fraction(1, 16)
DRUM_CHANNEL = 9
TEXT_CHARSET = "utf-8"

_MAJOR_KEYS = ["Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"]
_MINOR_KEYS = [
    "Abm",
    "Ebm",
    "Bbm",
    "Fm",
    "Cm",
    "Gm",
    "Dm",
    "Am",
    "Em",
    "Bm",
    "F#m",
    "C#m",
    "G#m",
    "D#m",
    "A#m",
]

# (tick, off-before-on order, message)
_Timed = tuple[int, int, mido.Message | mido.MetaMessage]


def to_midi(score: score_pb2.Score) -> bytes:
    """The score as MIDI file bytes."""
    # Text events in UTF-8: a title such as "ноты.pdf" has no Latin-1 form (mido's default).
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER, charset=TEXT_CHARSET)
    midi.tracks.append(_conductor_track(score))
    staves = [(part, staff) for part in score.parts for staff in sorted(part.staves, key=lambda s: s.number)]
    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    for i, (part, staff) in enumerate(staves):
        notes = [n for n in score.notes if n.staff_id == staff.id]
        name = printable(f"{part.name or part.id} staff {staff.number}")
        midi.tracks.append(_staff_track(name, notes, channels[i % len(channels)]))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def sounding_notes(notes: Sequence[events_pb2.NoteEvent]) -> list[tuple[Fraction, Fraction, int]]:
    """(start beat, end beat, midi) of what sounds: a tied chain is one note, grace notes are
    moved just before their beat with a short length."""
    sounding: list[list[Fraction | int]] = []
    open_ties: dict[int, list[Fraction | int]] = {}
    for note in sorted(notes, key=lambda n: (fraction(n.onset_beats), not n.grace)):
        onset = fraction(note.onset_beats)
        midi = note.pitch.midi
        if note.grace:
            start = max(Fraction(0), onset - GRACE_BEATS)
            sounding.append([start, start + GRACE_BEATS, midi])
            continue
        end = onset + fraction(note.duration_beats)
        tied = open_ties.pop(midi, None) if note.tie_stop else None
        if tied is not None and tied[1] == onset:
            tied[1] = end
            current = tied
        else:
            current = [onset, end, midi]
            sounding.append(current)
        if note.tie_start:
            open_ties[midi] = current
    return sorted((Fraction(s), Fraction(e), int(m)) for s, e, m in sounding)


def printable(text: str) -> str:
    """Text without control characters (a file name can hold an ESC or a NUL); line breaks and
    tabs become spaces."""
    return "".join(
        " " if c in "\t\n\r" else c for c in text if c in "\t\n\r" or unicodedata.category(c) != "Cc"
    )


def _ticks(beats: Fraction) -> int:
    return round(beats * TICKS_PER_QUARTER)


def _conductor_track(score: score_pb2.Score) -> mido.MidiTrack:
    events: list[_Timed] = []
    title = printable(score.metadata.title or score.source.file_name)
    if title:
        events.append((0, 0, mido.MetaMessage("track_name", name=title)))
    previous: events_pb2.Measure | None = None
    for measure in score.measures:
        tick = _ticks(fraction(measure.start_beats))
        time = measure.time
        denominator_ok = time.denominator > 0 and time.denominator & (time.denominator - 1) == 0
        if time.numerator > 0 and denominator_ok and (previous is None or previous.time != time):
            events.append(
                (
                    tick,
                    0,
                    mido.MetaMessage(
                        "time_signature", numerator=time.numerator, denominator=time.denominator
                    ),
                )
            )
        if (previous is None or previous.key != measure.key) and -7 <= measure.key.fifths <= 7:
            names = _MINOR_KEYS if measure.key.mode == 2 else _MAJOR_KEYS
            events.append((tick, 0, mido.MetaMessage("key_signature", key=names[measure.key.fifths + 7])))
        previous = measure
    for tempo in score.tempo_map:
        events.append(
            (
                _ticks(fraction(tempo.at_beats)),
                1,
                mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo.quarter_bpm)),
            )
        )
    return _track(events)


def _staff_track(name: str, notes: Sequence[events_pb2.NoteEvent], channel: int) -> mido.MidiTrack:
    events: list[_Timed] = [
        (0, 0, mido.MetaMessage("track_name", name=name)),
        (0, 0, mido.Message("program_change", program=0, channel=channel)),
    ]
    for start, end, midi in sounding_notes(notes):
        on, off = _ticks(start), _ticks(end)
        off = max(off, on + 1)
        events.append((on, 2, mido.Message("note_on", note=midi, velocity=VELOCITY, channel=channel)))
        events.append((off, 1, mido.Message("note_off", note=midi, velocity=0, channel=channel)))
    return _track(events)


def _track(events: list[_Timed]) -> mido.MidiTrack:
    """A track from absolute-tick events (stable order at equal ticks), with delta times."""
    track = mido.MidiTrack()
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track
