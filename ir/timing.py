"""Beats to seconds: the tempo map.

Beats always count quarter notes. A tempo map is a list of TempoEvents sorted by `at_beats`,
the first at beat 0; when the score engraves no tempo we assume 120 quarter notes per minute
and say so (`assumed = True`), so consumers can tell a guess from a reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from etude.ir.v1 import events_pb2, notation_pb2

from ir.build import fraction, rational

DEFAULT_QUARTER_BPM = 120.0


@dataclass(frozen=True)
class TempoChange:
    """A tempo as read from the page, before its time in seconds is known."""

    at_beats: Fraction
    quarter_bpm: float
    assumed: bool = False
    text: str = ""


def default_tempo_map() -> list[notation_pb2.TempoEvent]:
    """The tempo map of a score with no engraved tempo: 120 quarter bpm from beat 0, assumed."""
    return tempo_map_from_changes([])


def tempo_map_from_changes(changes: Iterable[TempoChange]) -> list[notation_pb2.TempoEvent]:
    """TempoEvents with `at_seconds` filled in; starts with an assumed default when beat 0 lacks one.

    Changes at the same beat keep the last one; a change repeating the tempo in force is dropped.
    """
    by_beat: dict[Fraction, TempoChange] = {}
    for change in changes:
        if change.quarter_bpm <= 0:
            raise ValueError(f"tempo at beat {change.at_beats} is {change.quarter_bpm} bpm; must be > 0")
        if change.at_beats < 0:
            raise ValueError(f"tempo change at negative beat {change.at_beats}")
        by_beat[Fraction(change.at_beats)] = change
    if Fraction(0) not in by_beat:
        by_beat[Fraction(0)] = TempoChange(Fraction(0), DEFAULT_QUARTER_BPM, assumed=True)

    events: list[notation_pb2.TempoEvent] = []
    seconds = 0.0
    previous: TempoChange | None = None
    for beat in sorted(by_beat):
        change = by_beat[beat]
        if previous is not None:
            if change.quarter_bpm == previous.quarter_bpm and not change.text:
                continue
            seconds += float(beat - previous.at_beats) * 60.0 / previous.quarter_bpm
        events.append(
            notation_pb2.TempoEvent(
                at_beats=rational(beat),
                at_seconds=seconds,
                quarter_bpm=change.quarter_bpm,
                assumed=change.assumed,
                text=change.text,
            )
        )
        previous = change
    return events


def seconds_at(beats: Fraction, tempo_map: Sequence[notation_pb2.TempoEvent]) -> float:
    """Seconds from the score start at a beat position; an empty map means the default tempo.

    The tempo in force is the last event at or before `beats` (the first event's tempo before it).
    """
    if not tempo_map:
        return float(beats) * 60.0 / DEFAULT_QUARTER_BPM
    current = tempo_map[0]
    for event in tempo_map[1:]:
        if fraction(event.at_beats) > beats:
            break
        current = event
    return current.at_seconds + float(beats - fraction(current.at_beats)) * 60.0 / current.quarter_bpm


def seconds_between(start: Fraction, end: Fraction, tempo_map: Sequence[notation_pb2.TempoEvent]) -> float:
    """Duration in seconds of the span [start, end) in beats."""
    return seconds_at(end, tempo_map) - seconds_at(start, tempo_map)


class _Timed(Protocol):
    """What `fill_seconds` needs: a Score or a PageFragment."""

    @property
    def measures(self) -> Iterable[events_pb2.Measure]: ...
    @property
    def notes(self) -> Iterable[events_pb2.NoteEvent]: ...
    @property
    def rests(self) -> Iterable[events_pb2.RestEvent]: ...


def fill_seconds(container: _Timed, tempo_map: Sequence[notation_pb2.TempoEvent]) -> None:
    """Set every measure's, note's and rest's seconds from its beats through the tempo map."""
    for measure in container.measures:
        start = fraction(measure.start_beats)
        measure.start_seconds = seconds_at(start, tempo_map)
        measure.duration_seconds = seconds_between(start, start + fraction(measure.duration_beats), tempo_map)
    events: list[events_pb2.NoteEvent | events_pb2.RestEvent] = [*container.notes, *container.rests]
    for event in events:
        onset = fraction(event.onset_beats)
        event.onset_seconds = seconds_at(onset, tempo_map)
        event.duration_seconds = seconds_between(onset, onset + fraction(event.duration_beats), tempo_map)
