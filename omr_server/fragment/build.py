"""The staves of one page, read by the model, → an IR PageFragment.

The recogniser decoded each staff's tokens into symbols once, knowing no clef from earlier
staves; here, where the context lives, each notehead's written pitch is resolved from its staff
position and the clef in force (`pitch.written_pitches`). Per system, each staff's symbols are
split into measures at its barlines and the staves' measures are aligned by position (a system
whose staves disagree on the count gets a warning and empty measures where a staff ran short).
Inside a measure each voice keeps its own time cursor; a chord note shares the onset of the
note before it. Pitches get their alteration from the written accidental, earlier accidentals
in the measure, an incoming tie, or the key. A measure lasts as long as its time signature
says, or longer when its content overfills it; a short first measure of the piece is a pickup.
Times run from the page start, in beats and seconds at the context's tempo.

Notes and rests get their box on the page (`box`) where the model says at which column of the
staff crop it read them (`omr_server/fragment/boxes.py`); models without a position head leave
boxes unset.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Protocol

from etude.ir.v1 import events_pb2, notation_pb2, score_pb2

from ir.build import IdMaker, fraction, measure_beats, note_type, page_prefix, pitch_from_spelling, rational
from ir.timing import TempoChange, fill_seconds, tempo_map_from_changes
from omr_server.fragment.boxes import symbol_box
from omr_server.fragment.context import OpenTie, ReadingContext, agreed, clef_proto, time_proto
from omr_server.fragment.grand_staff import PageColumn, align_system
from omr_server.fragment.measures import StaffMeasure, StaffMeasures, split_measures
from omr_server.fragment.noteheads import shared_noteheads
from omr_server.fragment.onsets import COLUMN_SPACES, full_voice_columns, onsets_by_place
from omr_server.fragment.parts import StaffSlot, page_slots
from omr_server.fragment.pitch import MeasureAccidentals, written_pitches
from omr_server.fragment.spacing import onsets_by_spacing
from omr_server.staves.layout import PageLayout, Staff
from recognition.crop import DEFAULT_HEIGHT, page_column
from recognition.symbols import ClefSymbol, NoteSymbol, RestSymbol, StaffSymbol
from recognition.vocabulary import tokens_to_symbols

DEFAULT_MEASURE_BEATS = Fraction(4)  # when no time signature was ever read


class TokenReading(Protocol):
    """What build_fragment needs of a model reading (the recognizer's StaffReading has it)."""

    @property
    def tokens(self) -> Sequence[str]: ...
    @property
    def symbols(self) -> Sequence[StaffSymbol]: ...


@dataclass(frozen=True)
class StaffTokens:
    """What the model read on one staff: tokens, one probability per token, and the crop column
    of each token where the model gives positions; decoded into symbols as the recogniser does."""

    tokens: Sequence[str]
    token_probs: Sequence[float]
    token_x: Sequence[float] | None = None

    @property
    def symbols(self) -> list[StaffSymbol]:
        x = list(self.token_x) if self.token_x is not None else None
        return tokens_to_symbols(list(self.tokens), list(self.token_probs), token_x=x)


def _warn(fragment: score_pb2.PageFragment, code: score_pb2.WarningCode.ValueType, message: str) -> None:
    fragment.warnings.add(code=code, message=message, page_index=fragment.page_index)


class _PageBuilder:
    def __init__(
        self,
        fragment: score_pb2.PageFragment,
        context: ReadingContext,
        layout: PageLayout,
        crop_height: int,
    ) -> None:
        self.fragment = fragment
        self.context = context
        self.ids = IdMaker(page_prefix(fragment.page_index))
        self.page_beats = Fraction(0)
        self.layout, self.crop_height = layout, crop_height
        self.staves: dict[str, Staff] = {}  # the current system's staff of each staff id

    def box(self, slot: StaffSlot, symbol: NoteSymbol | RestSymbol) -> notation_pb2.PageBox | None:
        staff = self.staves.get(slot.staff_id)
        if staff is None:
            return None
        size = self.layout.image.shape
        return symbol_box(
            symbol,
            staff,
            self.fragment.page_index,
            (size[0], size[1]),
            self.layout.skew_degrees,
            self.crop_height,
        )

    def page_column(self, slot: StaffSlot) -> PageColumn:
        """The slot's staff crop column → page column (where a note the model placed lies)."""
        staff = self.staves[slot.staff_id]
        return functools.partial(
            page_column,
            top_line_y=staff.top,
            bottom_line_y=staff.bottom,
            left_x=staff.left_x,
            right_x=staff.right_x,
            height=self.crop_height,
        )

    def add_system(self, system_index: int, slots: list[StaffSlot], staves: list[StaffMeasures]) -> None:
        counts = [len(staff.measures) for staff in staves]
        if len(set(counts)) > 1:
            aligned = align_system(staves, [self.page_column(slot) for slot in slots])
            how = (
                "aligned from the left"
                if aligned is None
                else "bars cut where the other staff's barlines fall"
            )
            staves = aligned or staves
            _warn(
                self.fragment,
                score_pb2.WARNING_CODE_MEASURE_MISMATCH,
                f"system {system_index}: staves read {counts} measures; {how}",
            )
        for position in range(max(counts, default=0)):
            cells = [staff.measures[position] if position < len(staff.measures) else None for staff in staves]
            self.add_measure(system_index, slots, cells)
        for slot, staff in zip(slots, staves, strict=True):
            self.apply_attributes(slot, staff.trailing)

    def apply_attributes(self, slot: StaffSlot, measure: StaffMeasure) -> None:
        if measure.clef is not None:
            self.context.clefs[slot.staff_id] = measure.clef
        if measure.key is not None:
            self.context.key_fifths = measure.key
        if measure.time is not None:
            self.context.time = measure.time

    def add_measure(
        self, system_index: int, slots: list[StaffSlot], cells: list[StaffMeasure | None]
    ) -> None:
        key, time = self.context.key_fifths, self.context.time
        for slot, cell in zip(slots, cells, strict=True):
            if cell is not None:
                self.apply_attributes(slot, cell)
        present = [cell for cell in cells if cell is not None]
        read_key = agreed([c.key for c in present if c.key is not None], key)
        read_time = agreed([c.time for c in present if c.time is not None], time)
        self.context.key_fifths = key if read_key is None else read_key
        self.context.time = time if read_time is None else read_time
        index = len(self.fragment.measures)
        measure = self.fragment.measures.add(index=index, page_index=self.fragment.page_index)
        measure.system_index = system_index
        if self.context.time is not None:
            measure.time.CopyFrom(time_proto(self.context.time))
        if self.context.key_fifths is not None:
            measure.key.fifths = self.context.key_fifths
        for slot in slots:
            clef = self.context.clefs.get(slot.staff_id)
            if clef is not None:
                measure.clefs.add(staff_id=slot.staff_id, clef=clef_proto(clef))

        expected = measure_beats(measure.time) if self.context.time is not None else None
        first_note = len(self.fragment.notes)
        first_rest = len(self.fragment.rests)
        full_rests: list[events_pb2.RestEvent] = []
        filled: list[tuple[str, Fraction]] = []
        placed = self.onsets_by_place(slots, cells, expected)
        for slot, cell, moved in zip(slots, cells, placed, strict=True):
            if cell is not None and cell.has_music:
                filled.append((slot.staff_id, self.add_events(slot, cell, index, full_rests, moved)))
        content = max((length for _, length in filled), default=Fraction(0))

        incomplete = False
        if expected is None:
            duration = content if content > 0 else DEFAULT_MEASURE_BEATS
        elif content > expected:
            duration = content
            self.duration_warning(index, filled, expected)
        elif content < expected and content > 0 and index == 0 and self.context.measures_before == 0:
            duration, incomplete = content, True  # a pickup
        else:
            duration = expected
            if 0 < content < expected:
                self.duration_warning(index, filled, expected)
        measure.start_beats.CopyFrom(rational(self.page_beats))
        measure.duration_beats.CopyFrom(rational(duration))
        measure.incomplete = incomplete
        for rest in full_rests:
            rest.duration_beats.CopyFrom(rational(duration))
        # Onsets are still measure-relative. A grace note at the very end of a measure has no place.
        late = {n.id for n in self.fragment.notes[first_note:] if fraction(n.onset_beats) >= duration}
        if late:
            self.drop_notes(late)
        repeats = shared_noteheads(self.fragment.notes[first_note:], self.staff_middles())
        if repeats:
            self.merge_notes(repeats)
        events: list[events_pb2.NoteEvent | events_pb2.RestEvent] = [
            *self.fragment.notes[first_note:],
            *self.fragment.rests[first_rest:],
        ]
        for event in events:
            event.onset_beats.CopyFrom(rational(self.page_beats + fraction(event.onset_beats)))
        self.page_beats += duration

    def drop_notes(self, ids: set[str]) -> None:
        survivors = [note for note in self.fragment.notes if note.id not in ids]
        kept_copies = [events_pb2.NoteEvent() for _ in survivors]
        for copy, note in zip(kept_copies, survivors, strict=True):
            copy.CopyFrom(note)
        del self.fragment.notes[:]
        self.fragment.notes.extend(kept_copies)
        groups = [(g.id, [n for n in g.note_ids if n not in ids]) for g in self.fragment.chord_groups]
        del self.fragment.chord_groups[:]
        for group_id, members in groups:
            if members:
                self.fragment.chord_groups.add(id=group_id, note_ids=members)
            else:
                for note in self.fragment.notes:
                    if note.chord_group_id == group_id:
                        note.chord_group_id = ""
        self.context.open_ties = [t for t in self.context.open_ties if t.from_note_id not in ids]

    def merge_notes(self, repeats: dict[str, str]) -> None:
        """Drop each note that repeats another's notehead; a tie it ends or starts goes to the
        kept note."""
        kept = {note.id: note for note in self.fragment.notes if note.id in repeats.values()}
        for note in self.fragment.notes:
            if note.id in repeats and note.tie_stop:
                kept[repeats[note.id]].tie_stop = True
        for tie in list(self.context.open_ties):
            twin = kept.get(repeats.get(tie.from_note_id, ""))
            if twin is not None:
                twin.tie_start = True
                self.context.open_ties.remove(tie)
                self.context.open_ties.append(
                    replace(tie, staff_id=twin.staff_id, voice=twin.voice, from_note_id=twin.id)
                )
        self.drop_notes(set(repeats))

    def staff_middles(self) -> dict[str, float]:
        """Each staff's middle line in the current system, as a share of the page's height."""
        height = self.layout.image.shape[0]
        return {staff_id: (staff.top + staff.bottom) / 2 / height for staff_id, staff in self.staves.items()}

    def duration_warning(self, index: int, filled: list[tuple[str, Fraction]], expected: Fraction) -> None:
        described = ", ".join(f"{staff} {length}" for staff, length in filled if length != expected)
        _warn(
            self.fragment,
            score_pb2.WARNING_CODE_MEASURE_DURATION,
            f"measure {index}: content ({described} beats) does not match its time signature "
            f"({expected} beats)",
        )

    def onsets_by_place(
        self, slots: list[StaffSlot], cells: list[StaffMeasure | None], expected: Fraction | None
    ) -> list[dict[int, Fraction]]:
        """Per staff of the measure, the onsets its short or overlong voices take from the columns
        of the system's full voices (`onsets.onsets_by_place`), or else the lone short voice of the
        only staff with music in the bar from its own spacing (`spacing.onsets_by_spacing`);
        nothing without positions."""
        placed: list[dict[int, Fraction]] = [{} for _ in slots]
        if expected is None or any(slot.staff_id not in self.staves for slot in slots):
            return placed
        to_page = [self.page_column(slot) for slot in slots]
        columns = [
            column
            for cell, page in zip(cells, to_page, strict=True)
            if cell is not None
            for column in full_voice_columns(cell.events, expected, page)
        ]
        # A staff's spacing follows its own rhythm only when no other staff of the system sounds in
        # the bar: in a piano system the other hand's notes widen and narrow its gaps.
        alone = sum(1 for cell in cells if cell is not None and cell.has_music) == 1
        for k, (slot, cell) in enumerate(zip(slots, cells, strict=True)):
            if cell is not None:
                staff = self.staves[slot.staff_id]
                space = (staff.bottom - staff.top) / 4
                placed[k] = onsets_by_place(cell.events, expected, columns, to_page[k], COLUMN_SPACES * space)
                if alone and not placed[k]:
                    placed[k] = onsets_by_spacing(cell.events, expected, to_page[k], space)
        return placed

    def add_events(
        self,
        slot: StaffSlot,
        cell: StaffMeasure,
        measure_index: int,
        full_rests: list[events_pb2.RestEvent],
        placed: dict[int, Fraction] | None = None,
    ) -> Fraction:
        """Add the measure's notes and rests of one staff (measure-relative onsets); its length in
        beats. `placed`: onsets by index in `cell.events`, for notes timed by their column."""
        accidentals = MeasureAccidentals(self.context.key_fifths or 0)
        cursors: dict[int, Fraction] = {}
        last_note: dict[int, events_pb2.NoteEvent] = {}
        placed = placed or {}
        for i, symbol in enumerate(cell.events):
            if isinstance(symbol, ClefSymbol):
                self.context.clefs[slot.staff_id] = symbol
                continue
            if i in placed:
                cursors[symbol.voice] = placed[i]
            if isinstance(symbol, RestSymbol):
                self.add_rest(slot, symbol, measure_index, cursors, full_rests)
                last_note.pop(symbol.voice, None)
            else:
                self.add_note(slot, symbol, measure_index, cursors, last_note, accidentals)
        return max(cursors.values(), default=Fraction(0))

    def add_rest(
        self,
        slot: StaffSlot,
        symbol: RestSymbol,
        measure_index: int,
        cursors: dict[int, Fraction],
        full_rests: list[events_pb2.RestEvent],
    ) -> None:
        rest = self.fragment.rests.add(
            id=self.ids.rest(),
            part_id=slot.part_id,
            staff_id=slot.staff_id,
            voice=symbol.voice,
            measure_index=measure_index,
            dots=symbol.dots,
            confidence=min(1.0, max(0.0, symbol.confidence)),
            full_measure=symbol.full_measure,
        )
        if symbol.tuplet is not None:
            rest.tuplet.actual_notes, rest.tuplet.normal_notes = symbol.tuplet
        box = self.box(slot, symbol)
        if box is not None:
            rest.box.CopyFrom(box)
        if symbol.full_measure:
            rest.onset_beats.CopyFrom(rational(0))
            full_rests.append(rest)
            return
        rest.type = note_type(symbol.note_type)
        onset = cursors.get(symbol.voice, Fraction(0))
        rest.onset_beats.CopyFrom(rational(onset))
        rest.duration_beats.CopyFrom(rational(symbol.duration))
        cursors[symbol.voice] = onset + symbol.duration

    def add_note(
        self,
        slot: StaffSlot,
        symbol: NoteSymbol,
        measure_index: int,
        cursors: dict[int, Fraction],
        last_note: dict[int, events_pb2.NoteEvent],
        accidentals: MeasureAccidentals,
    ) -> None:
        voice = symbol.voice
        head = last_note.get(voice) if symbol.chord else None
        onset = fraction(head.onset_beats) if head is not None else cursors.get(voice, Fraction(0))
        incoming = next(
            (
                tie
                for tie in self.context.open_ties
                if tie.staff_id == slot.staff_id and (tie.step, tie.octave) == (symbol.step, symbol.octave)
            ),
            None,
        )
        alter = accidentals.alter(
            symbol.step, symbol.octave, symbol.accidental, incoming.alter if incoming else None
        )
        try:
            pitch = pitch_from_spelling(symbol.step, alter, symbol.octave)
        except ValueError as error:
            _warn(
                self.fragment,
                score_pb2.WARNING_CODE_UNDECODABLE_STAFF,
                f"{slot.staff_id}: note skipped: {error}",
            )
            return
        note = self.fragment.notes.add(
            id=self.ids.note(),
            part_id=slot.part_id,
            staff_id=slot.staff_id,
            voice=voice,
            measure_index=measure_index,
            pitch=pitch,
            type=note_type(symbol.note_type),
            dots=symbol.dots,
            grace=symbol.grace,
            hand=slot.hand,
            hand_confidence=slot.hand_confidence,
            confidence=min(1.0, max(0.0, symbol.confidence)),
        )
        note.onset_beats.CopyFrom(rational(onset))
        note.duration_beats.CopyFrom(rational(symbol.duration))
        box = self.box(slot, symbol)
        if box is not None:
            note.box.CopyFrom(box)
        if symbol.tuplet is not None:
            note.tuplet.actual_notes, note.tuplet.normal_notes = symbol.tuplet
        if incoming is not None and incoming.midi == pitch.midi:
            note.tie_stop = True
            self.context.open_ties.remove(incoming)
        if symbol.tie_start:
            note.tie_start = True
            self.context.open_ties.append(
                OpenTie(slot.staff_id, voice, symbol.step, symbol.octave, alter, pitch.midi, note.id)
            )
        if head is not None:
            if not head.chord_group_id:
                head.chord_group_id = self.ids.chord()
                self.fragment.chord_groups.add(id=head.chord_group_id, note_ids=[head.id])
            note.chord_group_id = head.chord_group_id
            group = next(g for g in self.fragment.chord_groups if g.id == head.chord_group_id)
            group.note_ids.append(note.id)
        else:
            if not symbol.grace:
                cursors[voice] = onset + symbol.duration
            last_note[voice] = note


def build_fragment(
    page_index: int,
    layout: PageLayout,
    readings: Sequence[TokenReading],
    context: ReadingContext,
    crop_height: int = DEFAULT_HEIGHT,
) -> tuple[score_pb2.PageFragment, ReadingContext]:
    """The page's fragment and the context in force after it. `readings` follow `layout.staves`;
    `crop_height` is the height the staves were cut at for the model (its input height)."""
    height, width = layout.image.shape
    fragment = score_pb2.PageFragment(
        page_index=page_index,
        width_px=width,
        height_px=height,
        system_count=len(layout.systems),
        staff_count=len(layout.staves),
    )
    if len(readings) != len(layout.staves):
        raise ValueError(f"{len(layout.staves)} staves but {len(readings)} readings")
    end = context.copy()
    if not layout.systems:
        _warn(fragment, score_pb2.WARNING_CODE_NO_MUSIC, f"page {page_index} holds no staff")
        fragment.start_context.CopyFrom(_declared_only(context.to_proto(), set()))
        fragment.end_context.CopyFrom(_declared_only(end.to_proto(), set()))
        return fragment, end

    slots_per_system, parts = page_slots(layout.systems)
    fragment.parts.extend(parts)
    declared = {staff.id for part in parts for staff in part.staves}
    fragment.start_context.CopyFrom(_declared_only(context.to_proto(), declared))
    builder = _PageBuilder(fragment, end, layout, crop_height)
    remaining = iter(readings)
    for system_index, (slots, system) in enumerate(zip(slots_per_system, layout.systems, strict=True)):
        staves = []
        builder.staves = {slot.staff_id: staff for slot, staff in zip(slots, system.staves, strict=True)}
        for slot in slots:
            reading = next(remaining)
            symbols = written_pitches(reading.symbols, end.clefs.get(slot.staff_id))
            split = split_measures(symbols)
            if not split.measures and any(not token.startswith("<") for token in reading.tokens):
                _warn(
                    fragment,
                    score_pb2.WARNING_CODE_UNDECODABLE_STAFF,
                    f"system {system_index} staff {slot.staff_id}: no note or rest could be decoded",
                )
            staves.append(split)
        builder.add_system(system_index, slots, staves)

    tempo_map = tempo_map_from_changes([TempoChange(Fraction(0), context.quarter_bpm, context.tempo_assumed)])
    fill_seconds(fragment, tempo_map)
    _drop_ties_across_the_page(fragment, end)
    end.measures_before += len(fragment.measures)
    fragment.end_context.CopyFrom(_declared_only(end.to_proto(), declared))
    return fragment, end


def _drop_ties_across_the_page(fragment: score_pb2.PageFragment, end: ReadingContext) -> None:
    """A tie from an earlier page that no note of this page closed cannot reach the next page (a tie
    joins neighbouring notes): a misread note or tie. It ends here, with a warning, so the page's
    end context only names notes of its own."""
    own = {note.id for note in fragment.notes}
    for tie in [t for t in end.open_ties if t.from_note_id not in own]:
        end.open_ties.remove(tie)
        _warn(
            fragment,
            score_pb2.WARNING_CODE_UNSPECIFIED,
            f"{tie.staff_id}: tie from note {tie.from_note_id} of an earlier page is not closed on this page",
        )


def _declared_only(context: notation_pb2.MusicalContext, staff_ids: set[str]) -> notation_pb2.MusicalContext:
    """The context restricted to the staves the fragment declares (as IR validation requires)."""
    kept = notation_pb2.MusicalContext()
    kept.CopyFrom(context)
    del kept.clefs[:]
    kept.clefs.extend(c for c in context.clefs if c.staff_id in staff_ids)
    del kept.pending_ties[:]
    kept.pending_ties.extend(t for t in context.pending_ties if t.staff_id in staff_ids)
    return kept
