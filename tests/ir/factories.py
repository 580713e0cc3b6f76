"""Build small, valid Scores and PageFragments in a few lines, for tests of any area.

    b = IrBuilder()                      # piano grand staff P1-S1 (treble, RH) + P1-S2 (bass, LH), 4/4
    b.measure()
    b.chord(["C4", "E4", "G4"], at=0, type="half")
    b.note("D5", at=2, type="quarter", dots=1, voice=1)
    b.rest(at=0, type="whole", staff=2)
    score = b.score()                    # or b.fragment() (page-relative times, contexts filled)

Offsets (`at`) are in quarter notes from the measure start; durations come from type, dots,
tuplet and grace exactly as the recogniser computes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from etude.ir.v1 import events_pb2, notation_pb2, score_pb2

from ir.build import (
    IdMaker,
    clef,
    measure_beats,
    notated_duration,
    note_type,
    pitch_from_spelling,
    rational,
    time_signature,
)
from ir.timing import DEFAULT_QUARTER_BPM, TempoChange, fill_seconds, tempo_map_from_changes

_PITCH = re.compile(r"^([A-G])(#{1,2}|b{1,2})?(-?\d)$")


def parse_pitch(text: str) -> notation_pb2.Pitch:
    """ "C#4", "Bb3", "F##5", "Ebb2", "C4" → Pitch."""
    match = _PITCH.match(text)
    if match is None:
        raise ValueError(f"bad pitch {text!r}")
    step, accidentals, octave = match.groups()
    alter = 0 if not accidentals else (len(accidentals) if accidentals[0] == "#" else -len(accidentals))
    return pitch_from_spelling(step, alter, int(octave))


duration_of = notated_duration


@dataclass
class StaffSpec:
    clef: str  # "G2", "F4", "C3"
    hand: events_pb2.Hand.ValueType = events_pb2.HAND_UNSPECIFIED


@dataclass
class _MeasureState:
    proto: events_pb2.Measure
    start: Fraction


@dataclass
class IrBuilder:
    """Accumulates measures and events; `score()` / `fragment()` produce the protos."""

    staves: list[StaffSpec] = field(
        default_factory=lambda: [
            StaffSpec("G2", events_pb2.HAND_RIGHT),
            StaffSpec("F4", events_pb2.HAND_LEFT),
        ]
    )
    time: tuple[int, int] = (4, 4)
    fifths: int = 0
    mode: notation_pb2.KeyMode.ValueType = notation_pb2.KEY_MODE_MAJOR
    quarter_bpm: float | None = None  # None: no engraved tempo (the default is assumed)
    page_index: int = 0
    id_prefix: str = ""
    part_name: str = "Piano"

    def __post_init__(self) -> None:
        self.ids = IdMaker(self.id_prefix)
        self.measures: list[_MeasureState] = []
        self.notes: list[events_pb2.NoteEvent] = []
        self.rests: list[events_pb2.RestEvent] = []
        self.chords: list[events_pb2.ChordGroup] = []
        self.clefs = [s.clef for s in self.staves]
        self.tempo_changes: list[TempoChange] = []
        if self.quarter_bpm is not None:
            self.tempo_changes.append(TempoChange(Fraction(0), self.quarter_bpm))

    # -- layout --------------------------------------------------------------------------

    def staff_id(self, staff: int) -> str:
        return f"P1-S{staff}"

    def parts(self) -> list[score_pb2.Part]:
        staves = [
            score_pb2.Staff(id=self.staff_id(i + 1), number=i + 1, hand=spec.hand)
            for i, spec in enumerate(self.staves)
        ]
        return [score_pb2.Part(id="P1", name=self.part_name, staves=staves)]

    def measure(
        self,
        *,
        time: tuple[int, int] | None = None,
        fifths: int | None = None,
        clefs: dict[int, str] | None = None,
        duration: Fraction | None = None,
        system_index: int = 0,
        tempo: float | None = None,
    ) -> int:
        """Start a new measure (the one later events go into); returns its index."""
        if time is not None:
            self.time = time
        if fifths is not None:
            self.fifths = fifths
        for staff, clef_text in (clefs or {}).items():
            self.clefs[staff - 1] = clef_text
        start = (
            self.measures[-1].start + _fraction(self.measures[-1].proto.duration_beats)
            if self.measures
            else Fraction(0)
        )
        ts = time_signature(*self.time)
        full = measure_beats(ts)
        length = duration if duration is not None else full
        proto = events_pb2.Measure(
            index=len(self.measures),
            number=str(len(self.measures) + 1),
            page_index=self.page_index,
            system_index=system_index,
            start_beats=rational(start),
            duration_beats=rational(length),
            time=ts,
            key=notation_pb2.KeySignature(fifths=self.fifths, mode=self.mode),
            clefs=[
                events_pb2.MeasureClef(staff_id=self.staff_id(i + 1), clef=clef(c[0], int(c[1:])))
                for i, c in enumerate(self.clefs)
            ],
            incomplete=length < full,
        )
        if tempo is not None:
            self.tempo_changes.append(TempoChange(start, tempo))
        self.measures.append(_MeasureState(proto, start))
        return proto.index

    # -- events --------------------------------------------------------------------------

    def note(
        self,
        pitch: str,
        at: Fraction | int | str = 0,
        type: str = "quarter",
        *,
        dots: int = 0,
        tuplet: tuple[int, int] | None = None,
        staff: int = 1,
        voice: int = 1,
        tie_start: bool = False,
        tie_stop: bool = False,
        grace: bool = False,
        hand: events_pb2.Hand.ValueType | None = None,
        chord_group_id: str = "",
    ) -> events_pb2.NoteEvent:
        current = self.measures[-1]
        note = events_pb2.NoteEvent(
            id=self.ids.note(),
            part_id="P1",
            staff_id=self.staff_id(staff),
            voice=voice,
            measure_index=current.proto.index,
            pitch=parse_pitch(pitch),
            onset_beats=rational(current.start + Fraction(at)),
            duration_beats=rational(Fraction(0) if grace else duration_of(type, dots, tuplet)),
            type=note_type(type),
            dots=dots,
            tie_start=tie_start,
            tie_stop=tie_stop,
            chord_group_id=chord_group_id,
            hand=self.staves[staff - 1].hand if hand is None else hand,
            hand_confidence=0.9,
            confidence=0.95,
            grace=grace,
        )
        if tuplet is not None:
            note.tuplet.CopyFrom(events_pb2.Tuplet(actual_notes=tuplet[0], normal_notes=tuplet[1]))
        self.notes.append(note)
        return note

    def chord(
        self, pitches: list[str], at: Fraction | int | str = 0, type: str = "quarter", **kwargs: object
    ) -> list[events_pb2.NoteEvent]:
        group = events_pb2.ChordGroup(id=self.ids.chord())
        members = [self.note(p, at, type, chord_group_id=group.id, **kwargs) for p in pitches]  # type: ignore[arg-type]
        group.note_ids.extend(n.id for n in members)
        self.chords.append(group)
        return members

    def rest(
        self,
        at: Fraction | int | str = 0,
        type: str = "quarter",
        *,
        dots: int = 0,
        tuplet: tuple[int, int] | None = None,
        staff: int = 1,
        voice: int = 1,
        full_measure: bool = False,
    ) -> events_pb2.RestEvent:
        current = self.measures[-1]
        rest = events_pb2.RestEvent(
            id=self.ids.rest(),
            part_id="P1",
            staff_id=self.staff_id(staff),
            voice=voice,
            measure_index=current.proto.index,
            onset_beats=rational(current.start + Fraction(at)),
            duration_beats=rational(
                _fraction(current.proto.duration_beats) if full_measure else duration_of(type, dots, tuplet)
            ),
            type=note_type(type),
            dots=dots,
            confidence=0.9,
            full_measure=full_measure,
        )
        if tuplet is not None:
            rest.tuplet.CopyFrom(events_pb2.Tuplet(actual_notes=tuplet[0], normal_notes=tuplet[1]))
        self.rests.append(rest)
        return rest

    # -- output --------------------------------------------------------------------------

    def score(self) -> score_pb2.Score:
        tempo_map = tempo_map_from_changes(self.tempo_changes)
        score = score_pb2.Score(
            ir_version="1.0",
            metadata=score_pb2.Metadata(title="Test piece", composer="Factory"),
            source=score_pb2.Source(pdf_sha256="0" * 64, file_name="test.pdf", page_count=1),
            provenance=score_pb2.Provenance(producer="etude-omr", service_version="test"),
            parts=self.parts(),
            measures=[m.proto for m in self.measures],
            tempo_map=tempo_map,
            notes=self.notes,
            rests=self.rests,
            chord_groups=self.chords,
        )
        voices = sorted(
            {(n.staff_id, n.voice) for n in self.notes} | {(r.staff_id, r.voice) for r in self.rests}
        )
        score.voices.extend(score_pb2.Voice(staff_id=s, number=v) for s, v in voices)
        fill_seconds(score, tempo_map)
        return score

    def fragment(self) -> score_pb2.PageFragment:
        """This builder's measures as one page: times from 0, contexts from the first/last measure."""
        bpm = self.quarter_bpm or DEFAULT_QUARTER_BPM
        fragment = score_pb2.PageFragment(
            page_index=self.page_index,
            width_px=2480,
            height_px=3508,
            system_count=1 + max((m.proto.system_index for m in self.measures), default=0),
            staff_count=len(self.staves),
            parts=self.parts(),
            measures=[m.proto for m in self.measures],
            notes=self.notes,
            rests=self.rests,
            chord_groups=self.chords,
        )
        first, last = self.measures[0].proto, self.measures[-1].proto
        for context, measure in ((fragment.start_context, first), (fragment.end_context, last)):
            context.clefs.extend(
                notation_pb2.StaffClef(staff_id=c.staff_id, clef=c.clef) for c in measure.clefs
            )
            context.key.CopyFrom(measure.key)
            context.time.CopyFrom(measure.time)
            context.quarter_bpm = bpm
            context.tempo_assumed = self.quarter_bpm is None
        fragment.end_context.pending_ties.extend(self.pending_ties())
        fill_seconds(fragment, tempo_map_from_changes([TempoChange(Fraction(0), bpm)]))
        return fragment

    def pending_ties(self) -> list[notation_pb2.PendingTie]:
        """Ties started and not stopped by a later note of the same staff, voice and pitch."""
        pending: dict[tuple[str, int, int], events_pb2.NoteEvent] = {}
        for note in sorted(self.notes, key=lambda n: _fraction(n.onset_beats)):
            key = (note.staff_id, note.voice, note.pitch.midi)
            if note.tie_stop:
                pending.pop(key, None)
            if note.tie_start:
                pending[key] = note
        return [
            notation_pb2.PendingTie(staff_id=s, voice=v, midi=m, from_note_id=n.id)
            for (s, v, m), n in pending.items()
        ]


def rich_score() -> score_pb2.Score:
    """Two staves, two voices, chords, ties, triplets, dots, grace notes, key accidentals, a pickup."""
    b = IrBuilder(fifths=1, quarter_bpm=96.0)  # G major: F# in the key
    b.measure(duration=Fraction(1))  # pickup
    b.note("D4", at=0, type="eighth")
    b.note("F#4", at="1/2", type="eighth")
    b.rest(at=0, type="quarter", staff=2)
    b.measure()
    b.chord(["G4", "B4", "D5"], at=0, type="quarter", dots=1)
    b.note("F4", at="3/2", type="eighth")  # F natural against the key
    for i in range(3):
        b.note(["A4", "B4", "C5"][i], at=Fraction(2) + Fraction(i, 3), type="eighth", tuplet=(3, 2))
    b.note("D5", at=3, type="quarter", tie_start=True)
    b.note("G2", at=0, type="half", staff=2, voice=1)
    b.note("D3", at=2, type="half", staff=2, voice=1)
    b.note("B3", at=0, type="quarter", staff=2, voice=2)
    b.note("A3", at=1, type="quarter", staff=2, voice=2)
    b.rest(at=2, type="half", staff=2, voice=2)
    b.measure(clefs={2: "G2"})
    b.note("D5", at=0, type="half", tie_start=True, tie_stop=True)
    b.note("C#5", at=2, type="16th", grace=True)
    b.note("D5", at=2, type="half", tie_stop=True)
    b.chord(["Bb3", "Eb4"], at=0, type="whole", staff=2)
    b.measure()
    for i in range(3):  # a quarter-note triplet
        b.note("E5", at=Fraction(2 * i, 3), type="quarter", tuplet=(3, 2))
    b.note("C5", at=2, type="eighth", dots=2)
    b.note("B4", at="15/4", type="32nd", dots=0)
    b.note("A4", at="31/8", type="32nd")
    b.rest(at=0, type="whole", staff=2, full_measure=True)
    return b.score()


def _fraction(r: notation_pb2.Rational) -> Fraction:
    return Fraction(r.numerator, r.denominator)
