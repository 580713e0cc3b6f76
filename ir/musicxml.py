"""Score → MusicXML (partwise, uncompressed or .mxl), through music21.

We build a music21 stream (a Part per single-staff part; PartStaffs joined by a brace
StaffGroup for a grand staff; Measures with clef/key/time where they change; Voices when a
staff has more than one; chords, rests, ties, tuplets, dots, grace notes) and let music21's
exporter write the XML. Each measure is first laid out by `ir.notation` (every voice a gap-free
run of writable values, gaps as hidden rests), and accidentals, beams and tuplet brackets are
made here, so that music21 never re-bars or splits what was read: any valid Score exports.
Pitches are written as spelled in the IR; durations come from `duration_beats` (the engraved
type, dots and tuplet are used for display when they agree with it).
"""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, cast

from etude.ir.v1 import events_pb2, notation_pb2, score_pb2

from ir.build import NOTE_TYPE_NAMES, fraction
from ir.notation import GRID, Event, MeasureLayout, Slot, VoiceKey, layout_measure, note_values

_MEASURE_NUMBER = re.compile(r"^(\d+)(\D*)$")
_TIME_SYMBOLS = {notation_pb2.TIME_SYMBOL_COMMON: "common", notation_pb2.TIME_SYMBOL_CUT: "cut"}
_MODES = {notation_pb2.KEY_MODE_MAJOR: "major", notation_pb2.KEY_MODE_MINOR: "minor"}
_SIGNS = {notation_pb2.CLEF_SIGN_G: "G", notation_pb2.CLEF_SIGN_F: "F", notation_pb2.CLEF_SIGN_C: "C"}


def to_musicxml(score: score_pb2.Score) -> bytes:
    """Uncompressed MusicXML (score-partwise) as UTF-8 bytes, well-formed whatever the texts hold."""
    from music21 import defaults
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    # music21 writes its own placeholders where a score has no title or composer ("Music21
    # Fragment", composer "Music21"); a score that does not say stays silent instead.
    defaults.title = ""
    defaults.author = ""
    exporter = GeneralObjectExporter(to_music21(score))
    exporter.makeNotation = False  # to_music21 made it; music21's own would re-bar and split
    return _xml_safe(bytes(exporter.parse()))


def to_mxl(score: score_pb2.Score) -> bytes:
    """Compressed MusicXML: a zip of `mimetype` (stored, first), META-INF/container.xml and
    score.musicxml, with fixed timestamps so that one score always gives the same bytes."""
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


def to_music21(score: score_pb2.Score) -> Any:
    """The music21 Score for an IR Score (music21 is imported here: it takes ~1 s to load), with
    its notation (accidentals, beams, tuplet brackets) made, ready for `makeNotation=False`."""
    from music21 import layout, metadata, stream

    m21_score = stream.Score()
    m21_score.metadata = metadata.Metadata()
    # The title and composer the document states (ir Metadata), never the file name as a title.
    if score.metadata.title:
        m21_score.metadata.title = score.metadata.title
    if score.metadata.composer:
        m21_score.metadata.composer = score.metadata.composer

    voices: dict[int, dict[VoiceKey, list[Event]]] = defaultdict(lambda: defaultdict(list))
    all_events: list[Event] = [*score.notes, *score.rests]
    for event in all_events:
        voices[event.measure_index][(event.staff_id, event.voice)].append(event)
    layouts = [
        layout_measure(fraction(m.start_beats), fraction(m.duration_beats), voices[m.index], _writable)
        for m in score.measures
    ]

    first_staff = True
    for part in score.parts:
        staves = sorted(part.staves, key=lambda s: s.number)
        m21_staves: list[Any] = []
        for staff in staves:
            m21_part = stream.PartStaff(id=staff.id) if len(staves) > 1 else stream.Part(id=part.id)
            m21_part.insert(0, _instrument(part))
            for measure, measure_layout in zip(score.measures, layouts, strict=True):
                m21_measure = _measure(measure, staff.id, measure_layout, score.measures)
                if first_staff:
                    _insert_tempos(m21_measure, measure, measure_layout, score.tempo_map)
                m21_part.append(m21_measure)
            _make_notation(m21_part)
            m21_staves.append(m21_part)
            first_staff = False
        for m21_part in m21_staves:
            m21_score.insert(0, m21_part)
        if len(m21_staves) > 1:
            m21_score.insert(
                0, layout.StaffGroup(m21_staves, name=part.name, symbol="brace", barTogether=True)
            )
    return m21_score


def _make_notation(m21_part: Any) -> None:
    """What music21's makeNotation does, less re-barring and splitting: the layout already made
    every voice a gap-free run of writable values, which music21 would split again at the time
    signature's bar length (and fail on, for a bar longer than its signature)."""
    from music21 import stream
    from music21.stream import makeNotation

    makeNotation.makeAccidentalsInMeasureStream(m21_part)
    for m21_measure in m21_part.getElementsByClass(stream.Measure):
        for container in [m21_measure, *m21_measure.voices]:
            # Beams and tuplet brackets are cosmetic: a measure music21 cannot beam (an odd
            # length, a tuplet that never closes) is written without them rather than not at all.
            with contextlib.suppress(Exception):
                makeNotation.makeBeams(container, inPlace=True)
            with contextlib.suppress(Exception):
                makeNotation.makeTupletBrackets(container, inPlace=True)


def _instrument(part: score_pb2.Part) -> Any:
    from music21 import instrument

    # Piano: what Étude reads; it also gives the part a stable MusicXML id (part.id).
    piano = instrument.Piano()
    piano.partId = part.id
    piano.instrumentId = f"{part.id}-I1"  # the same on every staff: one instrument, no changes
    piano.partName = part.name or "Piano"
    return piano


def _measure(
    measure: events_pb2.Measure,
    staff_id: str,
    measure_layout: MeasureLayout,
    all_measures: Sequence[events_pb2.Measure],
) -> Any:
    from music21 import clef, key, meter, stream

    m21_measure = stream.Measure(number=_number(measure))
    previous = all_measures[measure.index - 1] if measure.index > 0 else None
    staff_clef = _clef_of(measure, staff_id)
    if staff_clef is not None and (previous is None or _clef_of(previous, staff_id) != staff_clef):
        m21_measure.insert(0, _m21_clef(staff_clef))
    elif previous is None:
        m21_measure.insert(0, clef.TrebleClef())
    if previous is None or previous.key != measure.key:
        signature = key.KeySignature(measure.key.fifths)
        mode = _MODES.get(measure.key.mode)
        m21_measure.insert(0, signature.asKey(mode) if mode else signature)
    time = measure.time
    if time.numerator > 0 and (previous is None or previous.time != time):
        # A bar longer or shorter than its signature (as read) is simply written with what it
        # holds: readers (MuseScore included) take such a bar's length from its notes, so no
        # extra time signature is needed, and none shows.
        m21_time = meter.TimeSignature(f"{time.numerator}/{time.denominator}")
        if time.symbol in _TIME_SYMBOLS:
            m21_time.symbol = _TIME_SYMBOLS[time.symbol]
        m21_measure.insert(0, m21_time)

    length = measure_layout.length
    if measure.incomplete and time.numerator > 0:
        missing = Fraction(4 * time.numerator, time.denominator) - length
        if missing > 0:
            # A pickup is short at its start; any later short measure at its end.
            if measure.index == 0:
                m21_measure.paddingLeft = missing
            else:
                m21_measure.paddingRight = missing

    keys = sorted(k for k in measure_layout.slots if k[0] == staff_id)
    if not keys:
        m21_measure.insert(0, _measure_rest(length))
        return m21_measure
    single = keys == [(staff_id, 1)]
    for voice_key in keys:
        container = m21_measure if single else stream.Voice(id=str(voice_key[1]))
        for slot in measure_layout.slots[voice_key]:
            for offset, element in _slot_elements(slot, exact=measure_layout.exact):
                container.insert(offset, element)
        for grace in measure_layout.graces.get(voice_key, []):
            container.insert(grace.offset, _grace_element(grace.notes))
        if not single:
            m21_measure.insert(0, container)
    return m21_measure


def _measure_rest(length: Fraction) -> Any:
    """A whole-bar rest: a whole rest's symbol for a bar of any length (its duration unlinked
    from its type, as engravers write it)."""
    from music21 import duration, note

    if not _divisible(length):  # an empty bar of a length MusicXML cannot count: the nearest 64th
        length = max(GRID, round(length / GRID) * GRID)
    rest = note.Rest()
    written = duration.Duration(type="whole")
    written.linked = False
    written.quarterLength = length
    rest.duration = written
    rest.fullMeasure = True
    return rest


def _number(measure: events_pb2.Measure) -> int | str:
    """The IR's number ("12", "12a"); the position when it has none music21 can read."""
    match = _MEASURE_NUMBER.match(measure.number)
    if match is None:
        return measure.index + 1
    return measure.number if match.group(2) else int(match.group(1))


def _clef_of(measure: events_pb2.Measure, staff_id: str) -> notation_pb2.Clef | None:
    return next((c.clef for c in measure.clefs if c.staff_id == staff_id), None)


def _m21_clef(ir_clef: notation_pb2.Clef) -> Any:
    from music21 import clef

    if ir_clef.sign == notation_pb2.CLEF_SIGN_PERCUSSION:
        return clef.PercussionClef()
    sign = _SIGNS.get(ir_clef.sign, "G")
    line = ir_clef.line or {"G": 2, "F": 4, "C": 3}[sign]
    return clef.clefFromString(f"{sign}{line}", octaveShift=ir_clef.octave_change)


def _insert_tempos(
    m21_measure: Any,
    measure: events_pb2.Measure,
    measure_layout: MeasureLayout,
    tempo_map: Sequence[notation_pb2.TempoEvent],
) -> None:
    """Engraved tempos as metronome marks in the measure they fall in; an assumed tempo with a
    printed text ("Allegro", from the PDF's text layer) as that text alone (direction/words)."""
    from music21 import tempo

    start = fraction(measure.start_beats)
    end = start + fraction(measure.duration_beats)
    for event in tempo_map:
        at = fraction(event.at_beats)
        if (event.assumed and not event.text) or not start <= at < end:
            continue
        if event.assumed:  # the words were printed, the speed was not: no metronome mark
            m21_measure.insert(0 if at == start else at - start, tempo.TempoText(event.text))
            continue
        offset = (
            at - start
            if measure_layout.exact
            else min(round((at - start) / GRID) * GRID, measure_layout.length - GRID)
        )
        mark = tempo.MetronomeMark(text=event.text or None, number=round(event.quarter_bpm, 2), referent=1.0)
        m21_measure.insert(offset, mark)


def _slot_elements(slot: Slot, *, exact: bool) -> list[tuple[Fraction, Any]]:
    """(offset, music21 note/chord/rest) for one slot: one element when its length is one
    writable value, else tied note values (rests: consecutive rests); gaps are hidden rests."""
    lengths = [slot.length] if exact and _writable(slot.length, slot.events) else note_values(slot.length)
    elements: list[tuple[Fraction, Any]] = []
    offset = slot.offset
    for i, length in enumerate(lengths):
        element = _slot_element(slot, length if len(lengths) > 1 else None)
        if len(lengths) > 1 and slot.events and isinstance(slot.events[0], events_pb2.NoteEvent):
            _tie_piece(element, slot.events, first=i == 0, last=i == len(lengths) - 1)
        _set_ids(element, slot.events, piece=i)
        elements.append((offset, element))
        offset += length
    return elements


def _slot_element(slot: Slot, piece: Fraction | None) -> Any:
    """The element of a slot, of its whole length (piece None: engraved type kept when it agrees)
    or of one tied piece of it."""
    from music21 import chord, duration, note

    length = slot.length if piece is None else piece
    written = _event_duration(slot.events[0], length) if slot.events and piece is None else None
    m21_duration = written or duration.Duration(quarterLength=length)
    if not slot.events:
        rest = note.Rest(duration=m21_duration)
        rest.style.hideObjectOnPrint = True  # print-object="no": it only fills the voice
        return rest
    first = slot.events[0]
    if isinstance(first, events_pb2.RestEvent):
        return note.Rest(duration=m21_duration)
    notes = [e for e in slot.events if isinstance(e, events_pb2.NoteEvent)]
    if len(notes) == 1:
        element = note.Note(_pitch(notes[0].pitch), duration=m21_duration)
        _tie(element, notes[0])
        return element
    m21_chord = chord.Chord([_pitch(n.pitch) for n in _distinct_pitches(notes)], duration=m21_duration)
    for m21_note, member in zip(m21_chord.notes, _distinct_pitches(notes), strict=True):
        _tie(m21_note, member)
    return m21_chord


def _distinct_pitches(notes: Sequence[events_pb2.NoteEvent]) -> list[events_pb2.NoteEvent]:
    """One note per spelled pitch (a chord lists each once)."""
    seen: dict[tuple[str, int, int], events_pb2.NoteEvent] = {}
    for n in notes:
        seen.setdefault((n.pitch.step, n.pitch.alter, n.pitch.octave), n)
    return list(seen.values())


def _tie_piece(element: Any, events: Sequence[Event], *, first: bool, last: bool) -> None:
    """Ties between the pieces of one note, keeping the note's own ties at its ends."""
    from music21 import tie

    notes = [element] if not hasattr(element, "notes") else list(element.notes)
    members = [e for e in events if isinstance(e, events_pb2.NoteEvent)]
    for m21_note, member in zip(notes, _distinct_pitches(members), strict=False):
        starts = not last or member.tie_start
        stops = not first or member.tie_stop
        kind = "continue" if starts and stops else "start" if starts else "stop" if stops else None
        m21_note.tie = tie.Tie(kind) if kind else None


def _grace_element(notes: Sequence[events_pb2.NoteEvent]) -> Any:
    from music21 import chord, duration, note

    type_name = NOTE_TYPE_NAMES.get(notes[0].type, "eighth")
    written = duration.Duration(type=type_name, dots=min(notes[0].dots, 3))
    distinct = _distinct_pitches(notes)
    if len(distinct) == 1:
        element: Any = note.Note(_pitch(distinct[0].pitch), duration=written)
    else:
        element = chord.Chord([_pitch(n.pitch) for n in distinct], duration=written)
    grace = element.getGrace()  # a copy: the ids go on it
    _set_ids(grace, notes, piece=0)
    return grace


def _set_ids(element: Any, events: Sequence[Event], *, piece: int) -> None:
    """The IR event ids as the music21 ids of the notes and rests written for them: music21
    writes a valid `.id` as the `id` attribute of `<note>` (MusicXML 3.1+), which is how a reader
    (the web page, through Verovio) finds the IR note, and its box, of each engraved note. The
    second and later tied pieces of one long note get `<id>.2`, `<id>.3`… (ids are unique in a
    document; IR ids never hold a dot). Hidden gap rests (no events) get none."""
    if not events:
        return
    suffix = f".{piece + 1}" if piece else ""
    if isinstance(events[0], events_pb2.RestEvent):
        if events[0].id:
            element.id = events[0].id + suffix
        return
    notes = [e for e in events if isinstance(e, events_pb2.NoteEvent)]
    members = list(element.notes) if hasattr(element, "notes") else [element]
    for m21_note, member in zip(members, _distinct_pitches(notes), strict=False):
        if member.id:
            m21_note.id = member.id + suffix


def _pitch(ir_pitch: notation_pb2.Pitch) -> Any:
    from music21 import pitch

    m21_pitch = pitch.Pitch(step=cast(Any, ir_pitch.step), octave=ir_pitch.octave)
    if ir_pitch.alter:
        m21_pitch.accidental = pitch.Accidental(ir_pitch.alter)
    return m21_pitch


def _event_duration(event: Event, length: Fraction) -> Any | None:
    """The engraved type/dots/tuplet when they add up to `length` and MusicXML can write them."""
    from music21 import duration

    type_name = NOTE_TYPE_NAMES.get(event.type)
    if type_name is None:
        return None
    engraved = duration.Duration(type=type_name, dots=event.dots)
    if event.HasField("tuplet") and event.tuplet.actual_notes > 0 and event.tuplet.normal_notes > 0:
        engraved.appendTuplet(
            duration.Tuplet(event.tuplet.actual_notes, event.tuplet.normal_notes, type_name, type_name)
        )
    if Fraction(engraved.quarterLength) != length or not _divisible(length):
        return None
    return engraved


def _writable(length: Fraction, events: Sequence[Event]) -> bool:
    """Whether `length` is one value MusicXML can write: the events' engraved one, or a plain,
    dotted or simple-tuplet value from a breve to a 64th."""
    from music21 import duration

    if events and _event_duration(events[0], length) is not None:
        return True
    if not _divisible(length):
        return False
    plain = duration.Duration(quarterLength=length)
    if plain.type not in _WRITABLE_TYPES or len(plain.tuplets) > 1:
        return False
    # music21 finds a tuplet for almost any length (160:119 of a 128th); only plain ones are music.
    return all(
        t.numberNotesActual <= 9
        and t.numberNotesNormal <= 8
        and (t.durationNormal is None or t.durationNormal.type in _WRITABLE_TYPES)
        for t in plain.tuplets
    )


# Note values MusicXML and every reader handle; music21 invents others ("2048th", "complex").
_WRITABLE_TYPES = frozenset(NOTE_TYPE_NAMES.values())
# music21 writes durations in 10080ths of a quarter; a length that is not a whole number of them
# would be rounded, and the voice would no longer add up.
_DIVISIONS = 10080


def _divisible(length: Fraction) -> bool:
    return (length * _DIVISIONS).denominator == 1


def _tie(m21_note: Any, event: events_pb2.NoteEvent) -> None:
    from music21 import tie

    if event.tie_start and event.tie_stop:
        m21_note.tie = tie.Tie("continue")
    elif event.tie_start:
        m21_note.tie = tie.Tie("start")
    elif event.tie_stop:
        m21_note.tie = tie.Tie("stop")
