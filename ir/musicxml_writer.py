"""Written measures → MusicXML text (score-partwise 4.0), indented, children in the schema's order.

The measures arrive fully decided (`ir.musicxml` lays them out and adds their notation); this
module only spells them as XML. It builds the text directly, escaping every value, which is
several times faster than building and serialising an ElementTree for the same document.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from etude.ir.v1 import notation_pb2, score_pb2

from ir.musicxml_accidentals import Spelled
from ir.musicxml_values import NoteValue

Clef = tuple[str, int, int]  # sign ("G", "F", "C", "percussion"), line, octave change

_NCNAME = re.compile(r"[a-zA-Z_][\w.-]*")  # an XML id: a letter or _ first, no spaces or colons
_MIDI_CHANNELS = [c for c in range(1, 17) if c != 10]  # 10 is the drum channel
_PROLOGUE = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
    '"http://www.musicxml.org/dtds/partwise.dtd">\n'
)
_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)


@dataclass
class Note:
    """One <note>, or a chord of them, of one voice."""

    offset: Fraction  # from the measure start
    length: Fraction  # 0 for a grace note
    value: NoteValue | None  # None: a whole-bar rest (no type)
    pitches: list[Spelled]  # none: a rest
    ties: list[str | None]  # per pitch: "start", "stop" or "continue"
    ids: list[str | None]  # per pitch; a rest's own id first
    grace: bool = False
    hidden: bool = False  # a gap: a rest that only fills the voice
    beams: tuple[str, ...] = ()
    stem: str | None = None
    tuplet: str | None = None  # "start", "stop" or "single" (a number, no bracket)


class Direction(NamedTuple):
    offset: Fraction  # from the measure start
    tempo: notation_pb2.TempoEvent


@dataclass
class Voice:
    number: int  # as written: unique within the part
    ir_voice: int
    notes: list[Note]
    directions: list[Direction] = field(default_factory=list)


class Attributes(NamedTuple):
    """What a measure states before its notes, where it changes."""

    key: tuple[int, str | None] | None = None  # fifths, mode
    time: tuple[int, int, str | None] | None = None  # beats, beat type, symbol
    staves: int | None = None
    clefs: tuple[tuple[int, Clef], ...] = ()  # (staff number, clef)


@dataclass
class Measure:
    number: str
    attributes: Attributes
    staves: list[list[Voice]]  # per staff, top to bottom

    def lengths(self) -> Iterator[Fraction]:
        """Every length and time written in divisions: notes, and directions past a note's onset."""
        for staff in self.staves:
            for voice in staff:
                yield from (n.length for n in voice.notes)
                yield from (d.offset for d in voice.directions)


class _Xml:
    """Indented XML text, one element per line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.indent = ""

    def open(self, tag: str, attributes: str = "") -> None:
        self.lines.append(f"{self.indent}<{tag}{attributes}>")
        self.indent += "  "

    def close(self, tag: str) -> None:
        self.indent = self.indent[:-2]
        self.lines.append(f"{self.indent}</{tag}>")

    def leaf(self, tag: str, text: str | int | None = None, attributes: str = "") -> None:
        if text is None:
            self.lines.append(f"{self.indent}<{tag}{attributes} />")
        else:
            self.lines.append(f"{self.indent}<{tag}{attributes}>{_escape(str(text))}</{tag}>")


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)


def _attrs(**values: str | int | None) -> str:
    """XML attributes (underscores in names as hyphens), those that are None left out."""
    return "".join(
        f' {name.replace("_", "-")}="{_escape(str(value))}"'
        for name, value in values.items()
        if value is not None
    )


def write_document(
    metadata: score_pb2.Metadata,
    parts: Sequence[score_pb2.Part],
    measures: Sequence[Sequence[Measure]],
    divisions: int,
) -> str:
    """The whole document: header, part list, and each part's measures."""
    xml = _Xml()
    xml.open("score-partwise", _attrs(version="4.0"))
    _header(xml, metadata)
    _part_list(xml, parts)
    for part, part_measures in zip(parts, measures, strict=True):
        xml.open("part", _attrs(id=part.id))
        for i, measure in enumerate(part_measures):
            _measure(xml, measure, divisions, first=i == 0, staff_count=len(part.staves))
        xml.close("part")
    xml.close("score-partwise")
    return _PROLOGUE + "\n".join(xml.lines) + "\n"


def _header(xml: _Xml, metadata: score_pb2.Metadata) -> None:
    """The title and composer the document states (never a placeholder, never the file name)."""
    if metadata.title:
        xml.open("work")
        xml.leaf("work-title", metadata.title)
        xml.close("work")
        xml.leaf("movement-title", metadata.title)
    xml.open("identification")
    if metadata.composer:
        xml.leaf("creator", metadata.composer, _attrs(type="composer"))
    xml.open("encoding")
    xml.leaf("software", "Étude")
    for element in ("accidental", "beam", "stem"):  # written where they show, absent elsewhere
        xml.leaf("supports", attributes=_attrs(element=element, type="yes"))
    xml.close("encoding")
    xml.close("identification")
    xml.open("defaults")
    xml.open("scaling")
    xml.leaf("millimeters", 7)
    xml.leaf("tenths", 40)
    xml.close("scaling")
    xml.close("defaults")


def _part_list(xml: _Xml, parts: Sequence[score_pb2.Part]) -> None:
    """A piano per part (what Étude reads), named as read."""
    xml.open("part-list")
    for i, part in enumerate(parts):
        instrument = _attrs(id=f"{part.id}-I1")
        xml.open("score-part", _attrs(id=part.id))
        xml.leaf("part-name", part.name or "Piano")
        xml.leaf("part-abbreviation", "Pno")
        xml.open("score-instrument", instrument)
        xml.leaf("instrument-name", "Piano")
        xml.leaf("instrument-abbreviation", "Pno")
        xml.close("score-instrument")
        xml.open("midi-instrument", instrument)
        xml.leaf("midi-channel", _MIDI_CHANNELS[i % len(_MIDI_CHANNELS)])
        xml.leaf("midi-program", 1)
        xml.close("midi-instrument")
        xml.close("score-part")
    xml.close("part-list")


def _measure(xml: _Xml, measure: Measure, divisions: int, *, first: bool, staff_count: int) -> None:
    xml.open("measure", _attrs(number=measure.number))
    _attributes(xml, measure.attributes, divisions if first else None, numbered=staff_count > 1)
    written = 0  # divisions the last voice holds: what the next one backs up over
    for staff_number, voices in enumerate(measure.staves, start=1):
        for voice in voices:
            if written:
                xml.open("backup")
                xml.leaf("duration", written)
                xml.close("backup")
            written = _voice(xml, voice, divisions, staff_number if staff_count > 1 else None)
    xml.close("measure")


def _attributes(xml: _Xml, attributes: Attributes, divisions: int | None, *, numbered: bool) -> None:
    if divisions is None and attributes == Attributes():
        return
    xml.open("attributes")
    if divisions is not None:
        xml.leaf("divisions", divisions)
    if attributes.key is not None:
        fifths, mode = attributes.key
        xml.open("key")
        xml.leaf("fifths", fifths)
        if mode is not None:
            xml.leaf("mode", mode)
        xml.close("key")
    if attributes.time is not None:
        beats, beat_type, symbol = attributes.time
        xml.open("time", _attrs(symbol=symbol))
        xml.leaf("beats", beats)
        xml.leaf("beat-type", beat_type)
        xml.close("time")
    if attributes.staves is not None:
        xml.leaf("staves", attributes.staves)
    for number, (sign, line, octave_change) in attributes.clefs:
        xml.open("clef", _attrs(number=number if numbered else None))
        xml.leaf("sign", sign)
        if sign != "percussion":
            xml.leaf("line", line)
        if octave_change:
            xml.leaf("clef-octave-change", octave_change)
        xml.close("clef")
    xml.close("attributes")


def _voice(xml: _Xml, voice: Voice, divisions: int, staff: int | None) -> int:
    """The voice's notes and tempo directions; returns its length in divisions."""
    directions = _direction_places(voice)
    total = 0
    for i, note in enumerate(voice.notes):
        for direction, shift in directions.get(i, ()):
            _tempo(xml, direction.tempo, round(shift * divisions), staff)
        _note(xml, note, voice.number, divisions, staff)
        total += round(note.length * divisions)
    return total


def _direction_places(voice: Voice) -> dict[int, list[tuple[Direction, Fraction]]]:
    """Index of the note each direction is written before (the first at the onset of the note
    sounding at its time, graces included), and how far past that onset it lies."""
    places: dict[int, list[tuple[Direction, Fraction]]] = defaultdict(list)
    for direction in voice.directions:
        sounding = next(
            (n for n in voice.notes if not n.grace and n.offset <= direction.offset < n.offset + n.length),
            voice.notes[-1],
        )
        index = next(i for i, n in enumerate(voice.notes) if n.offset == sounding.offset)
        places[index].append((direction, direction.offset - sounding.offset))
    return places


def _tempo(xml: _Xml, tempo: notation_pb2.TempoEvent, shift: int, staff: int | None) -> None:
    """A metronome mark (with the tempo for playback) for an engraved tempo; the printed words
    ("Allegro") as a words direction, alone when the speed itself was assumed."""
    above = _attrs(placement="above")
    if not tempo.assumed:
        bpm = _decimal(round(tempo.quarter_bpm, 2))
        xml.open("direction", above)
        xml.open("direction-type")
        xml.open("metronome", _attrs(parentheses="no"))
        xml.leaf("beat-unit", "quarter")
        xml.leaf("per-minute", bpm)
        xml.close("metronome")
        xml.close("direction-type")
        _direction_place(xml, shift, staff, sound=True)
        xml.leaf("sound", attributes=_attrs(tempo=bpm))
        xml.close("direction")
    if tempo.text:
        xml.open("direction", above)
        xml.open("direction-type")
        xml.leaf("words", tempo.text, _attrs(font_weight="bold"))
        xml.close("direction-type")
        _direction_place(xml, shift, staff, sound=False)
        xml.close("direction")


def _direction_place(xml: _Xml, shift: int, staff: int | None, *, sound: bool) -> None:
    if shift:
        xml.leaf("offset", shift, _attrs(sound="yes" if sound else None))
    if staff is not None:
        xml.leaf("staff", staff)


def _decimal(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _note(xml: _Xml, note: Note, voice: int, divisions: int, staff: int | None) -> None:
    """The <note> elements of a note, chord (one per pitch, <chord /> on all but the first) or
    rest, children in the schema's order."""
    value = note.value
    for k in range(max(1, len(note.pitches))):
        note_id = note.ids[k] if k < len(note.ids) else None
        valid_id = note_id if note_id and _NCNAME.fullmatch(note_id) else None
        hidden = "no" if note.hidden else None
        xml.open("note", _attrs(id=valid_id, print_object=hidden, print_spacing="yes" if hidden else None))
        if note.grace:
            xml.leaf("grace", attributes=_attrs(slash="yes"))
        if k:
            xml.leaf("chord")
        spelled = note.pitches[k] if note.pitches else None
        if spelled is None:
            xml.leaf("rest", attributes=_attrs(measure="yes" if value is None else None))
        else:
            xml.open("pitch")
            xml.leaf("step", spelled.step)
            if spelled.alter:
                xml.leaf("alter", spelled.alter)
            xml.leaf("octave", spelled.octave)
            xml.close("pitch")
        if not note.grace:
            xml.leaf("duration", round(note.length * divisions))
        tie = note.ties[k] if note.pitches else None
        tied = [kind for kind in ("stop", "start") if tie in (kind, "continue")]
        for kind in tied:
            xml.leaf("tie", attributes=_attrs(type=kind))
        xml.leaf("voice", voice)
        if value is not None:
            xml.leaf("type", value.type)
            for _ in range(value.dots):
                xml.leaf("dot")
        if spelled is not None and spelled.printed:
            xml.leaf("accidental", spelled.printed)
        if value is not None and value.tuplet is not None:
            _time_modification(xml, value)
        if k == 0 and note.stem:
            xml.leaf("stem", note.stem)
        if staff is not None:
            xml.leaf("staff", staff)
        if k == 0:
            for number, beam in enumerate(note.beams, start=1):
                xml.leaf("beam", beam, _attrs(number=number))
        tuplet = note.tuplet if k == 0 else None
        if tied or tuplet:
            xml.open("notations")
            for kind in tied:
                xml.leaf("tied", attributes=_attrs(type=kind))
            if tuplet in ("start", "single"):  # a lone tuplet note: its number, no bracket
                bracket = "yes" if tuplet == "start" else "no"
                xml.leaf(
                    "tuplet", attributes=_attrs(type="start", number=1, bracket=bracket, placement="above")
                )
            if tuplet in ("stop", "single"):
                xml.leaf("tuplet", attributes=_attrs(type="stop", number=1))
            xml.close("notations")
        xml.close("note")


def _time_modification(xml: _Xml, value: NoteValue) -> None:
    tuplet = value.tuplet
    assert tuplet is not None
    xml.open("time-modification")
    xml.leaf("actual-notes", tuplet.actual)
    xml.leaf("normal-notes", tuplet.normal)
    xml.leaf("normal-type", tuplet.normal_type)
    for _ in range(tuplet.normal_dots):
        xml.leaf("normal-dot")
    xml.close("time-modification")
