"""A small score model for training data: staves of measures of voices of events.

Both the synthetic generator and the corpus reader produce a `Piece`; the MusicXML writer
engraves it and `staff_symbols` derives the labels from the very same object, so image and
label cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from recognition.symbols import (
    BarlineSymbol,
    ClefSymbol,
    KeySymbol,
    NoteSymbol,
    RestSymbol,
    StaffSymbol,
    TimeSymbol,
    symbol_duration,
)

SHARP_ORDER = "FCGDAEB"


@dataclass
class Pitch:
    step: str
    octave: int
    alter: int = 0
    tie_start: bool = False
    tie_stop: bool = False
    printed: int | None = None  # printed accidental, decided by `spell_accidentals`


@dataclass
class Event:
    """A note/chord, a rest, or a clef change inside a voice."""

    note_type: str = "quarter"
    dots: int = 0
    pitches: list[Pitch] = field(default_factory=list)  # empty: a rest
    tuplet: tuple[int, int] | None = None
    tuplet_start: bool = False
    tuplet_stop: bool = False
    grace: bool = False
    full_measure: bool = False
    clef: ClefSymbol | None = None  # a clef change, not a sounding event
    # a rest left unprinted (as editions leave a second voice's rests, or kern's `yy`): engraved
    # as spacing only, still labelled, so the model learns to keep time across the gap
    hidden: bool = False

    @property
    def is_rest(self) -> bool:
        return not self.pitches and self.clef is None

    @property
    def duration(self) -> Fraction:
        if self.clef is not None:
            return Fraction(0)
        return symbol_duration(self.note_type, self.dots, self.tuplet, self.grace)


@dataclass
class Measure:
    voices: list[list[Event]]
    clef: ClefSymbol | None = None  # clef printed at the start of the measure
    key: int | None = None
    time: TimeSymbol | None = None
    left_repeat: bool = False
    end: str = "regular"  # barline style at the right end


@dataclass
class Piece:
    staves: list[list[Measure]]  # staff -> measures (same count on every staff)
    length: list[Fraction]  # nominal length of each measure in quarters


def key_alter(fifths: int, step: str) -> int:
    if fifths > 0:
        return 1 if step in SHARP_ORDER[:fifths] else 0
    if fifths < 0:
        return -1 if step in SHARP_ORDER[::-1][:-fifths] else 0
    return 0


def spell_accidentals(piece: Piece, courtesy: float = 0.0, rng=None) -> None:
    """Decide printed accidentals with the usual rule: print when the alteration differs from
    what the key signature and earlier notes of the bar imply; notes continuing a tie print none.
    `courtesy` is the chance of a (redundant) courtesy accidental on any other note."""
    for staff in piece.staves:
        fifths = 0
        for measure in staff:
            if measure.key is not None:
                fifths = measure.key
            state: dict[tuple[str, int], int] = {}
            for voice in measure.voices:
                for event in voice:
                    for p in event.pitches:
                        implied = state.get((p.step, p.octave), key_alter(fifths, p.step))
                        if p.tie_stop:
                            p.printed = None
                        elif p.alter != implied or (rng is not None and courtesy and rng.random() < courtesy):
                            p.printed = p.alter
                        else:
                            p.printed = None
                        state[(p.step, p.octave)] = p.alter


def staff_symbols(piece: Piece, staff: int) -> list[StaffSymbol]:
    """Labels of one staff, in the order the vocabulary expects (see docs/tokens.md)."""
    out: list[StaffSymbol] = []
    measures = piece.staves[staff]
    for i, m in enumerate(measures):
        if m.clef is not None:
            if i > 0 and isinstance(out[-1], BarlineSymbol):
                out.insert(len(out) - 1, m.clef)  # a clef change is engraved before the barline
            else:
                out.append(m.clef)
        if m.key is not None:
            out.append(KeySymbol(m.key))
        if m.time is not None:
            out.append(m.time)
        if m.left_repeat:
            if i > 0 and isinstance(out[-1], BarlineSymbol) and out[-1].style == "regular":
                out[-1] = BarlineSymbol("repeat-start")  # one glyph replaces the plain barline
            else:
                out.append(BarlineSymbol("repeat-start"))
        for v, voice in enumerate(m.voices, start=1):
            for e in voice:
                if e.clef is not None:
                    out.append(e.clef)
                elif e.is_rest:
                    if e.full_measure:
                        out.append(RestSymbol("whole", voice=v, full_measure=True))
                    else:
                        out.append(RestSymbol(e.note_type, e.dots, e.tuplet, voice=v))
                else:
                    for k, p in enumerate(e.pitches):
                        out.append(
                            NoteSymbol(
                                p.step,
                                p.octave,
                                p.printed,
                                e.note_type,
                                e.dots,
                                e.tuplet,
                                e.grace,
                                chord=k > 0,
                                tie_start=p.tie_start,
                                voice=v,
                            )
                        )
        out.append(BarlineSymbol(m.end))
    return out
