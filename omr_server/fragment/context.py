"""The musical context carried from page to page, and its IR form (MusicalContext)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from etude.ir.v1 import notation_pb2

from ir.build import clef as ir_clef
from ir.build import time_signature
from ir.timing import DEFAULT_QUARTER_BPM
from recognition.symbols import ClefSymbol, TimeSymbol


@dataclass(frozen=True)
class OpenTie:
    """A tie started by a note and not yet closed."""

    staff_id: str
    voice: int
    step: str
    octave: int
    alter: int
    midi: int
    from_note_id: str


@dataclass
class ReadingContext:
    clefs: dict[str, ClefSymbol] = field(default_factory=dict)
    key_fifths: int | None = None
    time: TimeSymbol | None = None
    open_ties: list[OpenTie] = field(default_factory=list)
    quarter_bpm: float = DEFAULT_QUARTER_BPM
    tempo_assumed: bool = True
    # Measures read on earlier pages: a short first measure of the piece is a pickup.
    measures_before: int = 0

    def copy(self) -> ReadingContext:
        return ReadingContext(
            clefs=dict(self.clefs),
            key_fifths=self.key_fifths,
            time=self.time,
            open_ties=list(self.open_ties),
            quarter_bpm=self.quarter_bpm,
            tempo_assumed=self.tempo_assumed,
            measures_before=self.measures_before,
        )

    def to_proto(self) -> notation_pb2.MusicalContext:
        context = notation_pb2.MusicalContext(quarter_bpm=self.quarter_bpm, tempo_assumed=self.tempo_assumed)
        for staff_id, clef in self.clefs.items():
            context.clefs.add(staff_id=staff_id, clef=clef_proto(clef))
        if self.key_fifths is not None:
            context.key.fifths = self.key_fifths
        if self.time is not None:
            context.time.CopyFrom(time_proto(self.time))
        for tie in self.open_ties:
            context.pending_ties.add(
                staff_id=tie.staff_id, voice=tie.voice, midi=tie.midi, from_note_id=tie.from_note_id
            )
        return context


Signature = TypeVar("Signature", int, TimeSymbol)


def agreed(read: Sequence[Signature], current: Signature | None) -> Signature | None:
    """The key or time signature of a bar that the staves of a system read (top to bottom).

    Every staff prints the same key and time, so staves that disagree hold a misreading. A
    change read by some staves but not others is the likelier one: the current signature stays
    when any staff reads it; otherwise the one most staves read, the upper staff's on a tie."""
    if not read:
        return None
    if current is not None and len(set(read)) > 1 and current in read:
        return current
    counts = Counter(read)
    return max(read, key=lambda signature: counts[signature])


def clef_proto(clef: ClefSymbol) -> notation_pb2.Clef:
    return ir_clef(clef.sign, clef.line, clef.octave_change)


def time_proto(time: TimeSymbol) -> notation_pb2.TimeSignature:
    return time_signature(time.numerator, time.denominator, time.symbol)
