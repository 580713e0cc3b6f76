"""Semantic validation of IR: what protobuf's schema cannot say.

Every error names the offending element ("note p2-n7", "measure 12", "chord p1-c3") so a bad
Score or PageFragment can be traced back to the page and symbol that produced it. Checks:
ids are unique and present; chord members exist and share onset/staff/voice; measures are
contiguous and events lie inside their measure; seconds agree with beats through the tempo map;
durations are positive (grace notes may be zero); pitches agree with their spelling and lie in
0..127; voices, hands and confidences are in range; staves are declared; rationals are valid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from etude.ir.v1 import events_pb2, notation_pb2, score_pb2

from ir.build import NOTE_TYPE_NAMES, STEP_SEMITONES, midi_from_spelling
from ir.timing import DEFAULT_QUARTER_BPM, seconds_at

# Seconds are doubles computed from exact beats; allow for rounding, not for a wrong tempo.
SECONDS_TOLERANCE = 1e-3
MAX_ERRORS_IN_MESSAGE = 20


@dataclass(frozen=True)
class IrError:
    """One semantic problem: `element` names what is wrong ("note p2-n7"), `code` says which rule."""

    code: str
    element: str
    message: str

    def __str__(self) -> str:
        return f"{self.element}: {self.message} [{self.code}]"


class InvalidScoreError(ValueError):
    """Raised by `ensure_valid`; `errors` holds every problem found."""

    def __init__(self, errors: Sequence[IrError]) -> None:
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:MAX_ERRORS_IN_MESSAGE])
        more = len(self.errors) - MAX_ERRORS_IN_MESSAGE
        suffix = f"; and {more} more" if more > 0 else ""
        super().__init__(f"invalid IR ({len(self.errors)} errors): {shown}{suffix}")


Event = events_pb2.NoteEvent | events_pb2.RestEvent
Timed = score_pb2.Score | score_pb2.PageFragment


def validate_score(score: score_pb2.Score) -> list[IrError]:
    """All semantic errors of a Score (empty when valid), including those of its kept fragments."""
    checker = _Checker(score, list(score.tempo_map))
    checker.check_tempo_map()
    # Seconds cannot be checked against a broken tempo map; its own errors say why.
    checker.tempo_map_ok = not checker.errors
    checker.check_all()
    staves = checker.staff_ids
    for voice in score.voices:
        if voice.staff_id not in staves:
            checker.error("staff", f"voice {voice.staff_id}/{voice.number}", "staff is not declared")
        if voice.number < 1:
            checker.error("voice", f"voice {voice.staff_id}/{voice.number}", "voice number must be >= 1")
    for fragment in score.fragments:
        for error in validate_fragment(fragment):
            checker.errors.append(
                IrError(error.code, f"fragment of page {fragment.page_index}, {error.element}", error.message)
            )
    return checker.errors


def validate_fragment(fragment: score_pb2.PageFragment) -> list[IrError]:
    """All semantic errors of a PageFragment; its times run from 0 at the page start at the
    tempo of its start context (the default tempo when none is given)."""
    bpm = fragment.start_context.quarter_bpm or DEFAULT_QUARTER_BPM
    tempo = notation_pb2.TempoEvent(
        at_beats=notation_pb2.Rational(numerator=0, denominator=1), at_seconds=0.0, quarter_bpm=bpm
    )
    checker = _Checker(fragment, [tempo])
    checker.check_all()
    for name in ("start_context", "end_context"):
        context: notation_pb2.MusicalContext = getattr(fragment, name)
        for staff_clef in context.clefs:
            if staff_clef.staff_id not in checker.staff_ids:
                checker.error(
                    "staff", f"{name} clef of staff {staff_clef.staff_id!r}", "staff is not declared"
                )
        for tie in context.pending_ties:
            element = f"{name} pending tie from {tie.from_note_id!r}"
            if tie.staff_id not in checker.staff_ids:
                checker.error("staff", element, f"staff {tie.staff_id!r} is not declared")
            if name == "end_context" and tie.from_note_id not in checker.notes:
                checker.error("reference", element, "the note starting the tie does not exist")
            if not 0 <= tie.midi <= 127:
                checker.error("pitch", element, f"MIDI {tie.midi} is outside 0..127")
        if context.quarter_bpm < 0 or not math.isfinite(context.quarter_bpm):
            checker.error("tempo", name, f"quarter_bpm {context.quarter_bpm} must be >= 0 (0 = unknown)")
    return checker.errors


def ensure_valid(score: Timed) -> None:
    """Raise InvalidScoreError, naming each offending element, unless the Score/PageFragment is valid."""
    errors = validate_score(score) if isinstance(score, score_pb2.Score) else validate_fragment(score)
    if errors:
        raise InvalidScoreError(errors)


class _Checker:
    def __init__(self, container: Timed, tempo_map: list[notation_pb2.TempoEvent]) -> None:
        self.container = container
        self.tempo_map = tempo_map
        self.errors: list[IrError] = []
        self.staff_ids: dict[str, str] = {}  # staff id -> part id
        self.notes: dict[str, events_pb2.NoteEvent] = {}
        self.measure_bounds: dict[int, tuple[Fraction, Fraction]] = {}
        self.tempo_map_ok = True

    def error(self, code: str, element: str, message: str) -> None:
        self.errors.append(IrError(code, element, message))

    def check_all(self) -> None:
        self.check_parts()
        self.check_measures()
        self.check_events()
        self.check_chords()

    # -- exact values -------------------------------------------------------------------

    def beats(self, value: notation_pb2.Rational, element: str, what: str) -> Fraction | None:
        if value.denominator <= 0:
            self.error(
                "rational",
                element,
                f"{what} {value.numerator}/{value.denominator} needs a positive denominator",
            )
            return None
        return Fraction(value.numerator, value.denominator)

    def check_seconds(self, element: str, what: str, beats: Fraction, seconds: float) -> None:
        if not self.tempo_map_ok:
            return
        expected = seconds_at(beats, self.tempo_map)
        if not math.isfinite(seconds) or abs(seconds - expected) > SECONDS_TOLERANCE:
            self.error(
                "seconds",
                element,
                f"{what} is {seconds:.6f} s but beat {beats} is {expected:.6f} s by the tempo map",
            )

    # -- structure ----------------------------------------------------------------------

    def check_tempo_map(self) -> None:
        previous: tuple[Fraction, float] | None = None
        for i, event in enumerate(self.tempo_map):
            element = f"tempo event {i}"
            at = self.beats(event.at_beats, element, "at_beats")
            if event.quarter_bpm <= 0 or not math.isfinite(event.quarter_bpm):
                self.error("tempo", element, f"quarter_bpm {event.quarter_bpm} must be > 0")
                return
            if at is None:
                return
            if i == 0 and at != 0:
                self.error("tempo", element, f"the tempo map must start at beat 0, not {at}")
            if previous is not None:
                prev_at, prev_bpm = previous
                if at <= prev_at:
                    self.error("tempo", element, f"at beat {at} is not after the previous event at {prev_at}")
                    return
                expected = self.tempo_map[i - 1].at_seconds + float(at - prev_at) * 60.0 / prev_bpm
                if abs(event.at_seconds - expected) > SECONDS_TOLERANCE:
                    self.error(
                        "tempo", element, f"at_seconds {event.at_seconds:.6f} should be {expected:.6f}"
                    )
            elif abs(event.at_seconds) > SECONDS_TOLERANCE:
                self.error("tempo", element, "the first tempo event must be at second 0")
            previous = (at, event.quarter_bpm)

    def check_parts(self) -> None:
        part_ids: set[str] = set()
        for part in self.container.parts:
            if not part.id or part.id in part_ids:
                self.error("id", f"part {part.id!r}", "part id is empty or repeated")
            part_ids.add(part.id)
            for staff in part.staves:
                element = f"staff {staff.id!r}"
                if not staff.id or staff.id in self.staff_ids:
                    self.error("id", element, "staff id is empty or repeated")
                self.staff_ids[staff.id] = part.id
                if staff.number < 1:
                    self.error("staff", element, f"staff number {staff.number} must be >= 1")
                if staff.hand not in events_pb2.Hand.values():
                    self.error("hand", element, f"hand {staff.hand} is not a Hand value")

    def check_measures(self) -> None:
        expected_start = Fraction(0)
        for position, measure in enumerate(self.container.measures):
            element = f"measure {measure.index}" + (f" (number {measure.number})" if measure.number else "")
            if measure.index != position:
                self.error("measure", element, f"index {measure.index} should be {position} (its position)")
            start = self.beats(measure.start_beats, element, "start_beats")
            duration = self.beats(measure.duration_beats, element, "duration_beats")
            if start is None or duration is None:
                expected_start = Fraction(-1)  # unknown from here on; stop checking contiguity
                continue
            if duration <= 0:
                self.error("duration", element, f"duration_beats {duration} must be > 0")
            if expected_start >= 0 and start != expected_start:
                self.error(
                    "measure",
                    element,
                    f"starts at beat {start}, but the previous measure ends at {expected_start}",
                )
            expected_start = start + duration if expected_start >= 0 else expected_start
            self.measure_bounds[measure.index] = (start, start + duration)
            self.check_seconds(element, "start_seconds", start, measure.start_seconds)
            self.check_seconds(
                element,
                "end (start + duration seconds)",
                start + duration,
                measure.start_seconds + measure.duration_seconds,
            )
            if measure.HasField("time") and (measure.time.numerator <= 0 or measure.time.denominator <= 0):
                self.error(
                    "time", element, f"time signature {measure.time.numerator}/{measure.time.denominator}"
                )
            if not -7 <= measure.key.fifths <= 7:
                self.error("key", element, f"key fifths {measure.key.fifths} is outside -7..7")
            for measure_clef in measure.clefs:
                if measure_clef.staff_id not in self.staff_ids:
                    self.error("staff", element, f"clef for undeclared staff {measure_clef.staff_id!r}")

    def check_events(self) -> None:
        seen: set[str] = set()
        events: list[tuple[str, Event]] = [("note", n) for n in self.container.notes]
        events += [("rest", r) for r in self.container.rests]
        for kind, event in events:
            element = f"{kind} {event.id!r}"
            if not event.id:
                self.error("id", f"{kind} at measure {event.measure_index}", f"{kind} has no id")
            elif event.id in seen:
                self.error("id", element, "id is used by more than one note or rest")
            seen.add(event.id)
            if isinstance(event, events_pb2.NoteEvent):
                self.notes.setdefault(event.id, event)
                self.check_note(element, event)
            self.check_event(element, event, grace=isinstance(event, events_pb2.NoteEvent) and event.grace)

    def check_event(self, element: str, event: Event, *, grace: bool) -> None:
        part = self.staff_ids.get(event.staff_id)
        if part is None:
            self.error("staff", element, f"staff {event.staff_id!r} is not declared")
        elif event.part_id != part:
            self.error("staff", element, f"part {event.part_id!r} does not hold staff {event.staff_id!r}")
        if event.voice < 1:
            self.error("voice", element, f"voice {event.voice} must be >= 1")
        if not 0.0 <= event.confidence <= 1.0:
            self.error("confidence", element, f"confidence {event.confidence} is outside 0..1")
        if event.type not in NOTE_TYPE_NAMES and event.type != events_pb2.NOTE_TYPE_UNSPECIFIED:
            self.error("type", element, f"note type {event.type} is not a NoteType value")
        if event.dots < 0:
            self.error("duration", element, f"dots {event.dots} must be >= 0")
        if event.HasField("tuplet") and (event.tuplet.actual_notes <= 0 or event.tuplet.normal_notes <= 0):
            self.error("duration", element, f"tuplet {event.tuplet.actual_notes}:{event.tuplet.normal_notes}")
        onset = self.beats(event.onset_beats, element, "onset_beats")
        duration = self.beats(event.duration_beats, element, "duration_beats")
        if duration is not None:
            if grace and duration < 0:
                self.error("duration", element, f"grace duration_beats {duration} must be >= 0")
            if not grace and duration <= 0:
                self.error("duration", element, f"duration_beats {duration} must be > 0")
        if onset is None:
            return
        bounds = self.measure_bounds.get(event.measure_index)
        if bounds is None:
            if not any(m.index == event.measure_index for m in self.container.measures):
                self.error("measure", element, f"measure {event.measure_index} does not exist")
        elif not bounds[0] <= onset < bounds[1]:
            self.error(
                "measure",
                element,
                f"onset beat {onset} lies outside measure {event.measure_index} [{bounds[0]}, {bounds[1]})",
            )
        self.check_seconds(element, "onset_seconds", onset, event.onset_seconds)
        if duration is not None:
            self.check_seconds(
                element,
                "end (onset + duration seconds)",
                onset + duration,
                event.onset_seconds + event.duration_seconds,
            )

    def check_note(self, element: str, note: events_pb2.NoteEvent) -> None:
        pitch = note.pitch
        if pitch.step not in STEP_SEMITONES or not -2 <= pitch.alter <= 2:
            self.error("pitch", element, f"spelling step {pitch.step!r} alter {pitch.alter} is impossible")
        else:
            midi = midi_from_spelling(pitch.step, pitch.alter, pitch.octave)
            if midi != pitch.midi:
                self.error(
                    "pitch",
                    element,
                    f"MIDI {pitch.midi} disagrees with spelling {pitch.step}{pitch.alter:+d}/{pitch.octave} "
                    f"(= {midi})",
                )
        if not 0 <= pitch.midi <= 127:
            self.error("pitch", element, f"MIDI {pitch.midi} is outside 0..127")
        if note.hand not in events_pb2.Hand.values():
            self.error("hand", element, f"hand {note.hand} is not a Hand value")
        if not 0.0 <= note.hand_confidence <= 1.0:
            self.error("confidence", element, f"hand_confidence {note.hand_confidence} is outside 0..1")

    def check_chords(self) -> None:
        groups: dict[str, events_pb2.ChordGroup] = {}
        for group in self.container.chord_groups:
            element = f"chord {group.id!r}"
            if not group.id or group.id in groups:
                self.error("id", element, "chord group id is empty or repeated")
            groups[group.id] = group
            if not group.note_ids:
                self.error("chord", element, "chord group has no notes")
            members = []
            for note_id in group.note_ids:
                note = self.notes.get(note_id)
                if note is None:
                    self.error("chord", element, f"member note {note_id!r} does not exist")
                    continue
                members.append(note)
                if note.chord_group_id != group.id:
                    self.error(
                        "chord",
                        element,
                        f"member note {note_id!r} names chord {note.chord_group_id!r} instead",
                    )
            keys = {(_exact(m.onset_beats), m.staff_id, m.voice, m.grace) for m in members}
            if len(keys) > 1:
                self.error(
                    "chord",
                    element,
                    "members do not share onset, staff, voice and grace: "
                    + ", ".join(
                        f"{m.id} at {_exact(m.onset_beats)} {m.staff_id} v{m.voice}" for m in members
                    ),
                )
        for note in self.notes.values():
            if not note.chord_group_id:
                continue
            owner = groups.get(note.chord_group_id)
            if owner is None:
                self.error(
                    "chord", f"note {note.id!r}", f"chord group {note.chord_group_id!r} does not exist"
                )
            elif note.id not in owner.note_ids:
                self.error(
                    "chord", f"note {note.id!r}", f"chord group {note.chord_group_id!r} does not list it"
                )


def _exact(value: notation_pb2.Rational) -> Fraction | None:
    return Fraction(value.numerator, value.denominator) if value.denominator > 0 else None
