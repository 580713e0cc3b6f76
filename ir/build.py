"""Small constructors for IR values: exact rationals, pitches from spelling, enums, ids.

Everything that builds IR (the page fragment builder, the assembler, tests) goes through these
so that the conventions live in one place: beats are exact `Fraction`s of a quarter note,
MIDI 60 is C4, ids look like "p3-n17".
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from etude.ir.v1 import events_pb2, notation_pb2

STEP_SEMITONES: dict[str, int] = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

# music21 / MusicXML type names, as the recogniser's symbols use them.
NOTE_TYPES: dict[str, events_pb2.NoteType.ValueType] = {
    "breve": events_pb2.NOTE_TYPE_BREVE,
    "whole": events_pb2.NOTE_TYPE_WHOLE,
    "half": events_pb2.NOTE_TYPE_HALF,
    "quarter": events_pb2.NOTE_TYPE_QUARTER,
    "eighth": events_pb2.NOTE_TYPE_EIGHTH,
    "16th": events_pb2.NOTE_TYPE_SIXTEENTH,
    "32nd": events_pb2.NOTE_TYPE_THIRTY_SECOND,
    "64th": events_pb2.NOTE_TYPE_SIXTY_FOURTH,
}
NOTE_TYPE_NAMES: dict[int, str] = {value: name for name, value in NOTE_TYPES.items()}

# Length of each note type in quarter notes.
TYPE_QUARTERS: dict[str, Fraction] = {
    "breve": Fraction(8),
    "whole": Fraction(4),
    "half": Fraction(2),
    "quarter": Fraction(1),
    "eighth": Fraction(1, 2),
    "16th": Fraction(1, 4),
    "32nd": Fraction(1, 8),
    "64th": Fraction(1, 16),
}


def notated_duration(type_name: str, dots: int = 0, tuplet: tuple[int, int] | None = None) -> Fraction:
    """Quarter notes that a notated type, dots and tuplet (actual, normal) add up to."""
    total = TYPE_QUARTERS[type_name] * (2 - Fraction(1, 2**dots))
    if tuplet is not None:
        actual, normal = tuplet
        total = total * normal / actual
    return total


CLEF_SIGNS: dict[str, notation_pb2.ClefSign.ValueType] = {
    "G": notation_pb2.CLEF_SIGN_G,
    "F": notation_pb2.CLEF_SIGN_F,
    "C": notation_pb2.CLEF_SIGN_C,
    "percussion": notation_pb2.CLEF_SIGN_PERCUSSION,
}

TIME_SYMBOLS: dict[str, notation_pb2.TimeSymbol.ValueType] = {
    "normal": notation_pb2.TIME_SYMBOL_NORMAL,
    "common": notation_pb2.TIME_SYMBOL_COMMON,
    "cut": notation_pb2.TIME_SYMBOL_CUT,
}


def rational(f: Fraction | int) -> notation_pb2.Rational:
    """An exact IR rational from a Fraction (always in lowest terms, denominator > 0)."""
    f = Fraction(f)
    return notation_pb2.Rational(numerator=f.numerator, denominator=f.denominator)


def fraction(r: notation_pb2.Rational) -> Fraction:
    """The Fraction an IR rational stands for; an unset or 0-denominator rational is an error."""
    if r.denominator <= 0:
        raise ValueError(f"rational {r.numerator}/{r.denominator} has a non-positive denominator")
    return Fraction(r.numerator, r.denominator)


def midi_from_spelling(step: str, alter: int, octave: int) -> int:
    """MIDI number of a spelled pitch (C4 = 60); raises ValueError for an impossible spelling."""
    if step not in STEP_SEMITONES:
        raise ValueError(f"pitch step {step!r} is not one of C D E F G A B")
    if not -2 <= alter <= 2:
        raise ValueError(f"pitch alteration {alter} is outside -2..2")
    return 12 * (octave + 1) + STEP_SEMITONES[step] + alter


def pitch_from_spelling(step: str, alter: int, octave: int) -> notation_pb2.Pitch:
    """A Pitch with its MIDI number computed from step/alter/octave; must land in 0..127."""
    midi = midi_from_spelling(step, alter, octave)
    if not 0 <= midi <= 127:
        raise ValueError(f"pitch {step}{alter:+d} octave {octave} is MIDI {midi}, outside 0..127")
    return notation_pb2.Pitch(midi=midi, step=step, alter=alter, octave=octave)


def note_type(name: str) -> events_pb2.NoteType.ValueType:
    """NoteType enum from a type name ("quarter", "16th", ...)."""
    try:
        return NOTE_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown note type {name!r}; expected one of {', '.join(NOTE_TYPES)}") from None


def clef(sign: str, line: int, octave_change: int = 0) -> notation_pb2.Clef:
    """A Clef from its sign letter ("G", "F", "C" or "percussion") and staff line (1 = bottom)."""
    try:
        clef_sign = CLEF_SIGNS[sign]
    except KeyError:
        raise ValueError(f"unknown clef sign {sign!r}; expected one of {', '.join(CLEF_SIGNS)}") from None
    return notation_pb2.Clef(sign=clef_sign, line=line, octave_change=octave_change)


def time_signature(numerator: int, denominator: int, symbol: str = "normal") -> notation_pb2.TimeSignature:
    return notation_pb2.TimeSignature(
        numerator=numerator, denominator=denominator, symbol=TIME_SYMBOLS[symbol]
    )


def measure_beats(time: notation_pb2.TimeSignature) -> Fraction:
    """Length in quarter notes of a full measure of a time signature (3/8 → 3/2)."""
    return Fraction(4 * time.numerator, time.denominator)


def part_id(part_number: int) -> str:
    """Id of the n-th part (1-based), MusicXML style: "P1"."""
    return f"P{part_number}"


def staff_id(part_number: int, staff_number: int) -> str:
    """Id of a staff: "P1-S1" is the upper staff of the first part."""
    return f"{part_id(part_number)}-S{staff_number}"


def page_prefix(page_index: int) -> str:
    """Prefix that makes an id unique across pages: "p3-" for page index 3."""
    return f"p{page_index}-"


class IdMaker:
    """Hands out sequential ids per kind: "n" notes, "r" rests, "c" chord groups.

    With a page prefix the ids are unique score-wide ("p3-n17"); the assembler adds the prefix
    to fragment ids that lack it.
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._counts: Counter[str] = Counter()

    def next(self, kind: str) -> str:
        self._counts[kind] += 1
        return f"{self.prefix}{kind}{self._counts[kind]}"

    def note(self) -> str:
        return self.next("n")

    def rest(self) -> str:
        return self.next("r")

    def chord(self) -> str:
        return self.next("c")
