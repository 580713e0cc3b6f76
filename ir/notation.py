"""How a measure is laid out for engraving, whatever was read into it.

A recognised measure can hold anything: notes longer than the bar, voices that overlap
themselves, lengths no note value spells (5/7 of a quarter), tuplets that never close, a bar
twice as long as its time signature. An engraved format (MusicXML) needs each voice as a gap-free
run of note values. This module decides that run, without music21, for every voice of a measure:

- a note or chord lasts until the next onset of its voice at most, and never past the bar;
- simultaneous notes of a voice sound as one chord (a rest under a note is dropped);
- gaps become slots without events (hidden rests);
- when every length is writable as read, the times are kept exactly; otherwise the whole
  measure is re-timed on a 64th-note grid (every multiple of which is a sum of tied note
  values), so that its voices stay of one length.

The IR itself is never changed: MIDI and JSON keep the exact times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from etude.ir.v1 import events_pb2

from ir.build import fraction

Event = events_pb2.NoteEvent | events_pb2.RestEvent
VoiceKey = tuple[str, int]  # (staff id, voice number)

GRID = Fraction(1, 16)  # a 64th note
# Whole notes down to 64ths: a multiple of GRID is a sum of these (longer lengths: tied wholes).
NOTE_VALUES = tuple(Fraction(4) / 2**i for i in range(7))


@dataclass(frozen=True)
class Slot:
    offset: Fraction  # from the measure start
    length: Fraction
    events: tuple[Event, ...]  # notes of one chord, one rest, or nothing (a gap)


@dataclass(frozen=True)
class Grace:
    offset: Fraction
    notes: tuple[events_pb2.NoteEvent, ...]


@dataclass(frozen=True)
class MeasureLayout:
    length: Fraction  # as written: the IR's length when exact, else on the grid
    exact: bool
    slots: dict[VoiceKey, list[Slot]]
    graces: dict[VoiceKey, list[Grace]]


# Whether a slot's length can be written as one value (given its events' engraved type).
Writable = Callable[[Fraction, Sequence[Event]], bool]


def on_grid(length: Fraction) -> bool:
    return length > 0 and (length / GRID).denominator == 1


def note_values(length: Fraction) -> list[Fraction]:
    """Tied note values that add up to a multiple of GRID, longest first."""
    values: list[Fraction] = []
    remaining = length
    for value in NOTE_VALUES:
        while remaining >= value:
            values.append(value)
            remaining -= value
    if remaining:
        raise ValueError(f"{length} quarters is not a multiple of {GRID}")
    return values


def layout_measure(
    start: Fraction, length: Fraction, voices: Mapping[VoiceKey, Sequence[Event]], writable: Writable
) -> MeasureLayout:
    """The layout of one measure (`start`, `length` in beats) holding `voices`' events."""
    exact = _layout(start, length, voices, quantise=False)
    if all(
        (slot.events and writable(slot.length, slot.events)) or (not slot.events and _gap_ok(slot, writable))
        for slots in exact.slots.values()
        for slot in slots
    ):
        return exact
    return _layout(start, length, voices, quantise=True)


def _gap_ok(slot: Slot, writable: Writable) -> bool:
    return writable(slot.length, ()) or on_grid(slot.length)


def _snap(value: Fraction) -> Fraction:
    return round(value / GRID) * GRID


def _layout(
    start: Fraction, length: Fraction, voices: Mapping[VoiceKey, Sequence[Event]], *, quantise: bool
) -> MeasureLayout:
    written = max(GRID, _snap(length)) if quantise else length
    last = written - GRID if quantise else written

    def place(onset: Fraction) -> Fraction:
        offset = onset - start
        return min(max(_snap(offset), Fraction(0)), last) if quantise else offset

    slots: dict[VoiceKey, list[Slot]] = {}
    graces: dict[VoiceKey, list[Grace]] = {}
    for key, events in voices.items():
        timed: dict[Fraction, list[Event]] = {}
        ends: dict[Fraction, Fraction] = {}
        grace_notes: dict[Fraction, list[events_pb2.NoteEvent]] = {}
        for event in events:
            onset = fraction(event.onset_beats)
            offset = place(onset)
            if isinstance(event, events_pb2.NoteEvent) and event.grace:
                grace_notes.setdefault(offset, []).append(event)
                continue
            end = onset + fraction(event.duration_beats) - start
            ends[offset] = max(ends.get(offset, Fraction(0)), _snap(end) if quantise else end)
            timed.setdefault(offset, []).append(event)
        slots[key] = _voice_slots(timed, ends, written)
        if grace_notes:
            graces[key] = [Grace(offset, tuple(notes)) for offset, notes in sorted(grace_notes.items())]
    return MeasureLayout(written, not quantise, slots, graces)


def _voice_slots(
    timed: Mapping[Fraction, list[Event]], ends: Mapping[Fraction, Fraction], written: Fraction
) -> list[Slot]:
    onsets = sorted(timed)
    slots: list[Slot] = []
    cursor = Fraction(0)
    for i, offset in enumerate(onsets):
        following = onsets[i + 1] if i + 1 < len(onsets) else written
        end = min(ends[offset], following)
        if end <= offset:  # snapped to nothing: the shortest value, which fits before `following`
            end = offset + GRID
        if offset > cursor:
            slots.append(Slot(cursor, offset - cursor, ()))
        notes = [e for e in timed[offset] if isinstance(e, events_pb2.NoteEvent)]
        chosen: tuple[Event, ...] = tuple(notes) if notes else (timed[offset][0],)
        slots.append(Slot(offset, end - offset, chosen))
        cursor = end
    if cursor < written:
        slots.append(Slot(cursor, written - cursor, ()))
    return slots
