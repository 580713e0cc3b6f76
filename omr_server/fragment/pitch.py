"""Pitch in context: the written step of a notehead from its staff position and the clef in
force, and the sounding alteration of a written note: accidental, else earlier accidental in
the measure, else a tie from the previous note, else the key signature.

An accidental holds for the same staff position (step and octave) until the barline, as in
common-practice engraving; the key signature applies to every octave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from recognition.symbols import ClefSymbol, NoteSymbol, StaffSymbol
from recognition.vocabulary import DEFAULT_CLEF, pitch_at

SHARP_ORDER = "FCGDAEB"


def key_alter(step: str, fifths: int) -> int:
    """Alteration the key signature gives `step` (+1 in sharp keys, -1 in flat keys, else 0)."""
    if fifths > 0 and step in SHARP_ORDER[:fifths]:
        return 1
    if fifths < 0 and step in SHARP_ORDER[::-1][:-fifths]:
        return -1
    return 0


class MeasureAccidentals:
    """Accidentals seen so far in one measure of one staff."""

    def __init__(self, fifths: int) -> None:
        self.fifths = fifths
        self._altered: dict[tuple[str, int], int] = {}

    def alter(self, step: str, octave: int, written: int | None, tied_alter: int | None = None) -> int:
        """The note's alteration; remembers a written accidental for the rest of the measure."""
        if written is not None:
            self._altered[(step, octave)] = written
            return written
        if (step, octave) in self._altered:
            return self._altered[(step, octave)]
        if tied_alter is not None:
            return tied_alter
        return key_alter(step, self.fifths)


def written_pitches(symbols: Sequence[StaffSymbol], clef: ClefSymbol | None) -> list[StaffSymbol]:
    """`symbols` as read from one staff (decoded once, by the recogniser, which knows no clef
    from earlier staves) with each notehead's written step and octave resolved from its staff
    position under the clef in force: `clef` (carried from the staff's previous system) until
    the staff prints one. Symbols without a staff position are left as they are."""
    current = clef or DEFAULT_CLEF
    out: list[StaffSymbol] = []
    for symbol in symbols:
        if isinstance(symbol, ClefSymbol):
            current = symbol
        elif isinstance(symbol, NoteSymbol) and symbol.staff_position is not None:
            step, octave = pitch_at(symbol.staff_position, current)
            symbol = replace(symbol, step=step, octave=octave)
        out.append(symbol)
    return out
