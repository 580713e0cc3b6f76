"""Score → MusicXML (partwise, uncompressed or .mxl), without music21.

A part per IR part (a grand staff is one part of two staves, `<staff>` on each note); measures
with clef/key/time where they change; every voice of a staff as a gap-free run of notes,
chords and rests, voices and staves joined by `<backup>`. Each measure is first laid out by
`ir.notation` (gaps as hidden rests, lengths no value spells as tied pieces, or the whole
measure re-timed on a 64th grid), so that any valid Score exports. Pitches are written as
spelled in the IR; durations come from `duration_beats` (the engraved type, dots and tuplet are
used for display when they agree with it). Accidentals, beams and tuplet brackets follow the
rules of the music21 exporter this replaced (`ir.musicxml_accidentals`, `ir.musicxml_notation`);
`ir.musicxml_writer` spells the result as XML.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from fractions import Fraction

from etude.ir.v1 import events_pb2, notation_pb2, score_pb2

from ir.build import NOTE_TYPE_NAMES, fraction
from ir.musicxml_accidentals import Item, Spelled, StaffAccidentals
from ir.musicxml_notation import (
    BeamInput,
    BeamMeter,
    TupletInput,
    beam_groups,
    beam_meter,
    beams,
    clef_middle_line,
    group_stem,
    tuplet_brackets,
)
from ir.musicxml_values import BEAM_COUNTS, NoteValue, divisible, slot_value, writable
from ir.musicxml_writer import Attributes, Clef, Direction, Measure, Note, Voice, write_document
from ir.notation import GRID, Event, MeasureLayout, Slot, VoiceKey, layout_measure, note_values

_MEASURE_NUMBER = re.compile(r"^(\d+)(\D*)$")
_TIME_SYMBOLS = {notation_pb2.TIME_SYMBOL_COMMON: "common", notation_pb2.TIME_SYMBOL_CUT: "cut"}
_MODES = {notation_pb2.KEY_MODE_MAJOR: "major", notation_pb2.KEY_MODE_MINOR: "minor"}
_SIGNS = {
    notation_pb2.CLEF_SIGN_G: "G",
    notation_pb2.CLEF_SIGN_F: "F",
    notation_pb2.CLEF_SIGN_C: "C",
    notation_pb2.CLEF_SIGN_PERCUSSION: "percussion",
}
_HOME_LINES = {"G": 2, "F": 4, "C": 3}


def to_musicxml(score: score_pb2.Score) -> bytes:
    """Uncompressed MusicXML (score-partwise) as UTF-8 bytes, well-formed whatever the texts hold."""
    layouts = _layouts(score)
    parts = [_part_measures(score, part, layouts, tempos=i == 0) for i, part in enumerate(score.parts)]
    divisions = _divisions(length for measures in parts for m in measures for length in m.lengths())
    return _xml_safe(write_document(score.metadata, score.parts, parts, divisions).encode())


def to_mxl(score: score_pb2.Score) -> bytes:
    """Compressed MusicXML: a zip of `mimetype` (stored, first), META-INF/container.xml and
    score.musicxml, with fixed timestamps so that one score always gives the same bytes."""
    import zipfile  # only here: it takes longer to import than a score takes to write

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, method in (
            ("mimetype", MXL_MIMETYPE.encode(), zipfile.ZIP_STORED),
            ("META-INF/container.xml", _CONTAINER.encode(), zipfile.ZIP_DEFLATED),
            (_ROOT_FILE, to_musicxml(score), zipfile.ZIP_DEFLATED),
        ):
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


MXL_MIMETYPE = "application/vnd.recordare.musicxml"
_ROOT_FILE = "score.musicxml"
_CONTAINER = f"""<?xml version="1.0" encoding="UTF-8"?>
<container>
  <rootfiles>
    <rootfile full-path="{_ROOT_FILE}" media-type="application/vnd.recordare.musicxml+xml"/>
  </rootfiles>
</container>
"""
# What XML 1.0 forbids even as a character reference: C0 controls but tab, LF and CR, and
# U+FFFE/U+FFFF. One of them in a file name or title (a NUL, an ESC) makes the whole document
# unreadable, so they go. In UTF-8 a C0 control is one byte that never occurs inside a longer
# sequence, so deleting those bytes cannot break another character.
_XML_FORBIDDEN_BYTES = bytes(c for c in range(32) if c not in (9, 10, 13))
_XML_FORBIDDEN_SEQUENCES = ("\ufffe".encode(), "\uffff".encode())


def _xml_safe(data: bytes) -> bytes:
    data = data.translate(None, _XML_FORBIDDEN_BYTES)
    for sequence in _XML_FORBIDDEN_SEQUENCES:
        data = data.replace(sequence, b"")
    return data


# ---- the measures as written ------------------------------------------------------------------


def _layouts(score: score_pb2.Score) -> list[MeasureLayout]:
    voices: dict[int, dict[VoiceKey, list[Event]]] = defaultdict(lambda: defaultdict(list))
    all_events: list[Event] = [*score.notes, *score.rests]
    for event in all_events:
        voices[event.measure_index][(event.staff_id, event.voice)].append(event)
    return [
        layout_measure(fraction(m.start_beats), fraction(m.duration_beats), voices[m.index], writable)
        for m in score.measures
    ]


def _part_measures(
    score: score_pb2.Score, part: score_pb2.Part, layouts: Sequence[MeasureLayout], *, tempos: bool
) -> list[Measure]:
    """The part's measures as written: notes with their notation, attributes where they change."""
    staves = sorted(part.staves, key=lambda s: s.number)
    first_voice = _first_voice_numbers(staves, layouts)
    accidentals = {staff.id: StaffAccidentals() for staff in staves}
    clefs: dict[str, Clef] = {}
    meter: BeamMeter | None = None
    measures: list[Measure] = []
    for measure, layout in zip(score.measures, layouts, strict=True):
        previous = score.measures[measure.index - 1] if measure.index > 0 else None
        attributes = _attributes(measure, previous, staves, clefs)
        key_written = previous is None or previous.key != measure.key
        if measure.time.numerator > 0:
            meter = beam_meter(measure.time.numerator, measure.time.denominator) or meter
        written: list[list[Voice]] = []
        for staff in staves:
            voices = _staff_voices(layout, staff.id, first_voice[staff.id], meter)
            _add_accidentals(accidentals[staff.id], measure.key.fifths, key_written, voices)
            _add_beams(voices, meter, measure, layout, clefs[staff.id])
            written.append(voices)
        if tempos and written and written[0]:
            _add_tempos(written[0][0], measure, layout, score.tempo_map)
        measures.append(Measure(_number(measure), attributes, written))
    return measures


def _first_voice_numbers(
    staves: Sequence[score_pb2.Staff], layouts: Sequence[MeasureLayout]
) -> dict[str, int]:
    """The written number of each staff's voice 1: voices keep their IR numbers, shifted past
    the voices of the staves above, so that no two staves of a part share one."""
    highest: dict[str, int] = defaultdict(lambda: 1)
    for layout in layouts:
        for staff_id, voice in layout.slots:
            highest[staff_id] = max(highest[staff_id], voice)
    first: dict[str, int] = {}
    shift = 0
    for staff in staves:
        first[staff.id] = shift + 1
        shift += highest[staff.id]
    return first


def _staff_voices(
    layout: MeasureLayout, staff_id: str, first_voice: int, meter: BeamMeter | None
) -> list[Voice]:
    keys = sorted(k for k in layout.slots if k[0] == staff_id)
    if not keys:  # nothing read on this staff: a whole-bar rest
        return [Voice(first_voice, 1, [_bar_rest(layout.length)])]
    bar = meter.bar if meter is not None else None
    voices = []
    for key in keys:
        notes = [n for slot in layout.slots[key] for n in _slot_notes(slot, exact=layout.exact)]
        for grace in layout.graces.get(key, []):  # before the note they lead to
            at = next((i for i, n in enumerate(notes) if n.offset >= grace.offset), len(notes))
            notes.insert(at, _grace_note(grace.offset, grace.notes))
        for n in notes:
            if not n.pitches and n.value is not None and n.length == bar:
                n.value = None  # a rest as long as the bar is written as a bar rest, as music21 did
        voices.append(Voice(first_voice + key[1] - 1, key[1], notes))
    return voices


def _bar_rest(length: Fraction) -> Note:
    """A whole-bar rest (a whole rest's symbol in a bar of any length)."""
    if not divisible(length):  # an empty bar of a length MusicXML cannot count: the nearest 64th
        length = max(GRID, round(length / GRID) * GRID)
    return Note(Fraction(0), length, None, [], [], [None])


def _slot_notes(slot: Slot, *, exact: bool) -> list[Note]:
    """The notes of one slot: one when its length is one writable value, else tied note values
    (rests: consecutive rests); a gap is a hidden rest."""
    whole = exact and writable(slot.length, slot.events)
    lengths = [slot.length] if whole else note_values(slot.length)
    notes = [n for n in slot.events if isinstance(n, events_pb2.NoteEvent)]
    members = _distinct_pitches(notes)
    written: list[Note] = []
    offset = slot.offset
    for i, length in enumerate(lengths):
        value = slot_value(length, slot.events if len(lengths) == 1 else ())
        suffix = f".{i + 1}" if i else ""
        first, last = i == 0, i == len(lengths) - 1
        if not slot.events:
            note = Note(offset, length, value, [], [], [None], hidden=True)
        elif not members:
            rest_id = slot.events[0].id
            note = Note(offset, length, value, [], [], [rest_id + suffix if rest_id else None])
        else:
            ties = [_tie(m.tie_start or not last, m.tie_stop or not first) for m in members]
            ids = [m.id + suffix if m.id else None for m in members]
            note = Note(
                offset, length, value, [_spelled(m, t) for m, t in zip(members, ties, strict=True)], ties, ids
            )
        written.append(note)
        offset += length
    return written


def _grace_note(offset: Fraction, notes: Sequence[events_pb2.NoteEvent]) -> Note:
    value = NoteValue(NOTE_TYPE_NAMES.get(notes[0].type, "eighth"), min(notes[0].dots, 3))
    members = _distinct_pitches(notes)
    pitches = [_spelled(m, None) for m in members]
    return Note(
        offset,
        Fraction(0),
        value,
        pitches,
        [None] * len(members),
        [m.id or None for m in members],
        grace=True,
    )


def _distinct_pitches(notes: Sequence[events_pb2.NoteEvent]) -> list[events_pb2.NoteEvent]:
    """One note per spelled pitch (a chord lists each once)."""
    seen: dict[tuple[str, int, int], events_pb2.NoteEvent] = {}
    for n in notes:
        seen.setdefault((n.pitch.step, n.pitch.alter, n.pitch.octave), n)
    return list(seen.values())


def _tie(starts: bool, stops: bool) -> str | None:
    return "continue" if starts and stops else "start" if starts else "stop" if stops else None


def _spelled(note: events_pb2.NoteEvent, tie: str | None) -> Spelled:
    return Spelled(
        note.pitch.step, note.pitch.alter, note.pitch.octave, tie_starts=tie in ("start", "continue")
    )


# ---- notation ----------------------------------------------------------------------------------


def _add_accidentals(
    state: StaffAccidentals, fifths: int, key_written: bool, voices: Sequence[Voice]
) -> None:
    items = [Item(n.offset, v.number, n.grace, tuple(n.pitches)) for v in voices for n in v.notes]
    state.measure(fifths, key_written, items)


def _add_beams(
    voices: Sequence[Voice],
    meter: BeamMeter | None,
    measure: events_pb2.Measure,
    layout: MeasureLayout,
    clef: Clef,
) -> None:
    """Beams and tuplet brackets of each voice; stems of its beamed groups."""
    # music21 wrote a staff's lone voice 1 straight into the measure, any other voice as a Voice
    single = len(voices) == 1 and voices[0].ir_voice == 1
    start, last_stops = _beam_start(measure, layout, meter, single_voice=single)
    middle = clef_middle_line(*clef)
    for position, voice in enumerate(voices):
        timed = [n for n in voice.notes if not n.grace]
        marks = tuplet_brackets([TupletInput(n.length, n.value.tuplet if n.value else None) for n in timed])
        for note, mark in zip(timed, marks, strict=True):
            note.tuplet = mark
        if meter is None:
            continue
        inputs = [BeamInput(n.offset, n.length, _beam_count(n)) for n in timed]
        for note, values in zip(timed, beams(inputs, meter, start=start, last_stops=last_stops), strict=True):
            note.beams = values
        pitched = [n for n in voice.notes if n.pitches]
        for group in beam_groups([n.beams for n in pitched]):
            members = [pitched[i] for i in group]
            if len(voices) > 1:  # the first voice's stems up, the others' down, as engravers do
                stem = "up" if position == 0 else "down"
            else:
                stem = group_stem([(p.step, p.octave) for n in members for p in n.pitches], middle)
            for n in members:
                n.stem = stem


def _beam_start(
    measure: events_pb2.Measure, layout: MeasureLayout, meter: BeamMeter | None, *, single_voice: bool
) -> tuple[Fraction, bool]:
    """Where the measure starts in its bar (a pickup is the end of one) and whether its last
    beam must stop (not in a short single-voice measure, where music21 let it run on)."""
    if meter is None or measure.time.numerator <= 0 or not measure.incomplete:
        missing = meter.bar - layout.length if meter is not None else Fraction(0)
        return (missing if missing > 0 else Fraction(0)), True
    missing = Fraction(4 * measure.time.numerator, measure.time.denominator) - layout.length
    if missing <= 0:
        return Fraction(0), True
    if measure.index == 0:
        return missing, True
    return Fraction(0), not single_voice


def _beam_count(note: Note) -> int:
    if not note.pitches or note.value is None:
        return 0
    return BEAM_COUNTS.get(note.value.type, 0)


def _add_tempos(
    voice: Voice,
    measure: events_pb2.Measure,
    layout: MeasureLayout,
    tempo_map: Sequence[notation_pb2.TempoEvent],
) -> None:
    """Engraved tempos (metronome marks) and printed tempo words of this measure, at their
    time (on the grid when the measure was re-timed)."""
    start = fraction(measure.start_beats)
    end = start + fraction(measure.duration_beats)
    for event in tempo_map:
        at = fraction(event.at_beats)
        if (event.assumed and not event.text) or not start <= at < end:
            continue
        offset = at - start
        if not layout.exact or not divisible(offset):  # a time the measure's divisions can count
            offset = min(round(offset / GRID) * GRID, layout.length - GRID)
        voice.directions.append(Direction(offset, event))


# ---- attributes --------------------------------------------------------------------------------


def _attributes(
    measure: events_pb2.Measure,
    previous: events_pb2.Measure | None,
    staves: Sequence[score_pb2.Staff],
    clefs: dict[str, Clef],
) -> Attributes:
    """Key, time and clefs where they change (all of them in the first measure); `clefs` is
    updated to those in effect."""
    key = None
    if previous is None or previous.key != measure.key:
        key = (measure.key.fifths, _MODES.get(measure.key.mode))
    time = None
    signature = measure.time
    if signature.numerator > 0 and (previous is None or previous.time != signature):
        # A bar longer or shorter than its signature (as read) is simply written with what it
        # holds: readers (MuseScore included) take such a bar's length from its notes, so no
        # extra time signature is needed, and none shows.
        time = (signature.numerator, signature.denominator, _TIME_SYMBOLS.get(signature.symbol))
    changed: list[tuple[int, Clef]] = []
    for number, staff in enumerate(staves, start=1):
        ir_clef = _clef_of(measure, staff.id)
        if ir_clef is not None and (previous is None or _clef_of(previous, staff.id) != ir_clef):
            clefs[staff.id] = _clef(ir_clef)
        elif previous is None:
            clefs[staff.id] = ("G", 2, 0)  # no clef read: treble
        else:
            continue
        changed.append((number, clefs[staff.id]))
    staff_count = len(staves) if previous is None and len(staves) > 1 else None
    return Attributes(key, time, staff_count, tuple(changed))


def _clef_of(measure: events_pb2.Measure, staff_id: str) -> notation_pb2.Clef | None:
    return next((c.clef for c in measure.clefs if c.staff_id == staff_id), None)


def _clef(ir_clef: notation_pb2.Clef) -> Clef:
    sign = _SIGNS.get(ir_clef.sign, "G")
    if sign == "percussion":
        return sign, 0, 0
    return sign, ir_clef.line or _HOME_LINES[sign], ir_clef.octave_change


def _number(measure: events_pb2.Measure) -> str:
    """The IR's number ("12", "12a"); the position when it has none a reader can count."""
    match = _MEASURE_NUMBER.match(measure.number)
    if match is None:
        return str(measure.index + 1)
    return f"{int(match.group(1))}{match.group(2)}"


def _divisions(lengths: Iterable[Fraction]) -> int:
    """Divisions of a quarter that make every written duration whole."""
    return math.lcm(1, *{length.denominator for length in lengths})
