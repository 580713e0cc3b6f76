"""Score → MusicXML (partwise, uncompressed or .mxl), through music21.

We build a music21 stream (a Part per single-staff part; PartStaffs joined by a brace
StaffGroup for a grand staff; Measures with clef/key/time where they change; Voices when a
staff has more than one; chords, rests, ties, tuplets, dots, grace notes) and let music21's
exporter write the XML, so beaming, accidentals, backups and hidden gap rests follow its rules.
Pitches are written as spelled in the IR; durations come from `duration_beats` (the engraved
type, dots and tuplet are used for display when they agree with it).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, cast

from etude.ir.v1 import events_pb2, notation_pb2, score_pb2

from ir.build import NOTE_TYPE_NAMES, fraction

_MEASURE_NUMBER = re.compile(r"^(\d+)(\D*)$")
_TIME_SYMBOLS = {notation_pb2.TIME_SYMBOL_COMMON: "common", notation_pb2.TIME_SYMBOL_CUT: "cut"}
_MODES = {notation_pb2.KEY_MODE_MAJOR: "major", notation_pb2.KEY_MODE_MINOR: "minor"}
_SIGNS = {notation_pb2.CLEF_SIGN_G: "G", notation_pb2.CLEF_SIGN_F: "F", notation_pb2.CLEF_SIGN_C: "C"}


def to_musicxml(score: score_pb2.Score) -> bytes:
    """Uncompressed MusicXML (score-partwise) as UTF-8 bytes, well-formed whatever the texts hold."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    return _xml_safe(bytes(GeneralObjectExporter(to_music21(score)).parse()))


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
    """The music21 Score for an IR Score (music21 is imported here: it takes ~1 s to load)."""
    from music21 import layout, metadata, stream

    m21_score = stream.Score()
    m21_score.metadata = metadata.Metadata()
    m21_score.metadata.title = score.metadata.title or score.source.file_name or "Untitled"
    if score.metadata.composer:
        m21_score.metadata.composer = score.metadata.composer

    events: dict[str, dict[int, list[events_pb2.NoteEvent | events_pb2.RestEvent]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for note in score.notes:
        events[note.staff_id][note.measure_index].append(note)
    for rest in score.rests:
        events[rest.staff_id][rest.measure_index].append(rest)

    first_staff = True
    for part in score.parts:
        staves = sorted(part.staves, key=lambda s: s.number)
        m21_staves: list[Any] = []
        for staff in staves:
            m21_part = stream.PartStaff(id=staff.id) if len(staves) > 1 else stream.Part(id=part.id)
            m21_part.insert(0, _instrument(part))
            for measure in score.measures:
                m21_measure = _measure(measure, staff.id, events[staff.id][measure.index], score.measures)
                if first_staff:
                    _insert_tempos(m21_measure, measure, score.tempo_map)
                m21_part.append(m21_measure)
            m21_staves.append(m21_part)
            first_staff = False
        for m21_part in m21_staves:
            m21_score.insert(0, m21_part)
        if len(m21_staves) > 1:
            m21_score.insert(
                0, layout.StaffGroup(m21_staves, name=part.name, symbol="brace", barTogether=True)
            )
    return m21_score


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
    staff_events: Sequence[events_pb2.NoteEvent | events_pb2.RestEvent],
    all_measures: Sequence[events_pb2.Measure],
) -> Any:
    from music21 import clef, key, meter, note, stream

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
    start = fraction(measure.start_beats)
    length = fraction(measure.duration_beats)
    irregular = _irregular_time(measure)
    if irregular is not None:
        # An overfull measure (as read): a hidden time signature of its real length keeps every
        # reader (MuseScore included) on the IR's time grid instead of guessing its own.
        m21_time = meter.TimeSignature(irregular)
        m21_time.style.hideObjectOnPrint = True
        m21_measure.insert(0, m21_time)
    elif time.numerator > 0 and (
        previous is None or previous.time != time or _irregular_time(previous) is not None
    ):
        m21_time = meter.TimeSignature(f"{time.numerator}/{time.denominator}")
        if time.symbol in _TIME_SYMBOLS:
            m21_time.symbol = _TIME_SYMBOLS[time.symbol]
        m21_measure.insert(0, m21_time)

    if measure.incomplete and time.numerator > 0:
        missing = Fraction(4 * time.numerator, time.denominator) - length
        if missing > 0:
            # A pickup is short at its start; any later short measure at its end.
            if measure.index == 0:
                m21_measure.paddingLeft = missing
            else:
                m21_measure.paddingRight = missing

    by_voice: dict[int, list[events_pb2.NoteEvent | events_pb2.RestEvent]] = defaultdict(list)
    for event in staff_events:
        by_voice[event.voice].append(event)
    if not by_voice:
        rest = note.Rest(quarterLength=length)
        rest.fullMeasure = True
        m21_measure.insert(0, rest)
        return m21_measure
    single = len(by_voice) == 1 and 1 in by_voice
    for number in sorted(by_voice):
        container = m21_measure if single else stream.Voice(id=str(number))
        for offset, element in _elements(by_voice[number], start):
            container.insert(offset, element)
        if not single:
            m21_measure.insert(0, container)
    return m21_measure


def _irregular_time(measure: events_pb2.Measure) -> str | None:
    """ "N/D" for a measure longer than its time signature (pickups are written as such), else None."""
    time = measure.time
    if time.numerator <= 0 or time.denominator <= 0 or measure.incomplete:
        return None
    length = fraction(measure.duration_beats)
    if length == Fraction(4 * time.numerator, time.denominator):
        return None
    denominator = 4 * length.denominator  # quarters → a power-of-two note value when it is one
    if denominator & (denominator - 1) or denominator > 64:
        return None
    return f"{length.numerator * denominator // (4 * length.denominator)}/{denominator}"


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
    m21_measure: Any, measure: events_pb2.Measure, tempo_map: Sequence[notation_pb2.TempoEvent]
) -> None:
    """Engraved tempos (not assumed ones) as metronome marks in the measure they fall in."""
    from music21 import tempo

    start = fraction(measure.start_beats)
    end = start + fraction(measure.duration_beats)
    for event in tempo_map:
        at = fraction(event.at_beats)
        if event.assumed or not start <= at < end:
            continue
        mark = tempo.MetronomeMark(text=event.text or None, number=round(event.quarter_bpm, 2), referent=1.0)
        m21_measure.insert(at - start, mark)


def _elements(
    voice_events: Sequence[events_pb2.NoteEvent | events_pb2.RestEvent], measure_start: Fraction
) -> list[tuple[Fraction, Any]]:
    """(offset in measure, music21 note/chord/rest) for one voice; chord groups become Chords."""
    from music21 import chord, note

    chords: dict[str, list[events_pb2.NoteEvent]] = defaultdict(list)
    elements: list[tuple[Fraction, Any]] = []
    for event in voice_events:
        offset = fraction(event.onset_beats) - measure_start
        if isinstance(event, events_pb2.RestEvent):
            rest = note.Rest()
            rest.duration = _duration(event)
            if event.full_measure:
                rest.fullMeasure = True
            elements.append((offset, rest))
        elif event.chord_group_id:
            chords[event.chord_group_id].append(event)
        else:
            elements.append(
                (offset, _grace(note.Note(_pitch(event.pitch), duration=_duration(event)), event))
            )
            _tie(elements[-1][1], event)
    for members in chords.values():
        first = members[0]
        m21_chord = chord.Chord([_pitch(m.pitch) for m in members], duration=_duration(first))
        for m21_note, member in zip(m21_chord.notes, members, strict=True):
            _tie(m21_note, member)
        elements.append((fraction(first.onset_beats) - measure_start, _grace(m21_chord, first)))
    return elements


def _pitch(ir_pitch: notation_pb2.Pitch) -> Any:
    from music21 import pitch

    m21_pitch = pitch.Pitch(step=cast(Any, ir_pitch.step), octave=ir_pitch.octave)
    if ir_pitch.alter:
        m21_pitch.accidental = pitch.Accidental(ir_pitch.alter)
    return m21_pitch


def _duration(event: events_pb2.NoteEvent | events_pb2.RestEvent) -> Any:
    """The engraved type/dots/tuplet when they add up to `duration_beats`, else the plain length."""
    from music21 import duration

    beats = fraction(event.duration_beats)
    type_name = NOTE_TYPE_NAMES.get(event.type)
    if type_name is not None:
        engraved = duration.Duration(type=type_name, dots=event.dots)
        if event.HasField("tuplet") and event.tuplet.actual_notes > 0 and event.tuplet.normal_notes > 0:
            engraved.appendTuplet(
                duration.Tuplet(event.tuplet.actual_notes, event.tuplet.normal_notes, type_name, type_name)
            )
        grace = isinstance(event, events_pb2.NoteEvent) and event.grace
        if grace or Fraction(engraved.quarterLength) == beats:
            return engraved
    plain = duration.Duration(quarterLength=beats if beats > 0 else Fraction(1, 2))
    if plain.type in _UNWRITABLE_TYPES:
        # Longer than any MusicXML note value (a misread measure can be): whole notes tied on.
        wholes, remainder = divmod(Fraction(plain.quarterLength), 4)
        lengths = [Fraction(4)] * int(wholes) + ([remainder] if remainder else [])
        plain = duration.Duration(components=[duration.durationTupleFromQuarterLength(q) for q in lengths])
    return plain


# music21 types with no MusicXML <type>: exporting them fails the whole document.
_UNWRITABLE_TYPES = frozenset({"duplex-maxima", "inexpressible"})


def _grace(element: Any, event: events_pb2.NoteEvent) -> Any:
    return element.getGrace() if event.grace else element


def _tie(m21_note: Any, event: events_pb2.NoteEvent) -> None:
    from music21 import tie

    if event.tie_start and event.tie_stop:
        m21_note.tie = tie.Tie("continue")
    elif event.tie_start:
        m21_note.tie = tie.Tie("start")
    elif event.tie_stop:
        m21_note.tie = tie.Tie("stop")
