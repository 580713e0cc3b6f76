"""What the model reads off one staff image, as plain typed symbols.

This is the boundary between recognition and music: the vocabulary (`vocabulary.py`) turns a
token sequence into a list of these symbols, left to right as engraved, and the fragment
builder (`omr_server/fragment/`) turns the symbols of every staff on a page into an IR
PageFragment. Durations are exact `Fraction`s of a quarter note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ir.build import notated_duration


@dataclass(frozen=True)
class ClefSymbol:
    sign: str  # "G", "F", "C"
    line: int  # staff line, 1 = bottom
    octave_change: int = 0


@dataclass(frozen=True)
class KeySymbol:
    fifths: int  # sharps > 0, flats < 0


@dataclass(frozen=True)
class TimeSymbol:
    numerator: int
    denominator: int
    symbol: str = "normal"  # "normal", "common", "cut"


@dataclass(frozen=True)
class BarlineSymbol:
    style: str = "regular"  # "regular", "double", "final", "repeat-start", "repeat-end"


@dataclass(frozen=True)
class NoteSymbol:
    step: str  # "C".."B", the written staff position
    octave: int
    accidental: int | None  # written accidental in semitones (0 = natural), None when none is printed
    note_type: str  # "whole", "half", "quarter", "eighth", "16th", "32nd", "64th", "breve"
    dots: int = 0
    tuplet: tuple[int, int] | None = None  # (actual, normal), e.g. (3, 2)
    grace: bool = False
    chord: bool = False  # struck with the previous note (same stem)
    tie_start: bool = False
    voice: int = 1
    confidence: float = 1.0
    # Where the model read it: the crop column of the notehead (None when the model gives no
    # positions) and its staff position (0 = bottom line, in steps). Not part of the music, so
    # symbols compare equal wherever they were read.
    x: float | None = field(default=None, compare=False)
    staff_position: int | None = field(default=None, compare=False)

    @property
    def duration(self) -> Fraction:
        return symbol_duration(self.note_type, self.dots, self.tuplet, self.grace)


@dataclass(frozen=True)
class RestSymbol:
    note_type: str
    dots: int = 0
    tuplet: tuple[int, int] | None = None
    voice: int = 1
    full_measure: bool = False
    confidence: float = 1.0
    x: float | None = field(default=None, compare=False)  # crop column of the rest glyph

    @property
    def duration(self) -> Fraction:
        return symbol_duration(self.note_type, self.dots, self.tuplet, False)


StaffSymbol = ClefSymbol | KeySymbol | TimeSymbol | BarlineSymbol | NoteSymbol | RestSymbol


def symbol_duration(note_type: str, dots: int, tuplet: tuple[int, int] | None, grace: bool) -> Fraction:
    """Sounding length in quarter notes; grace notes take no time."""
    return Fraction(0) if grace else notated_duration(note_type, dots, tuplet)
