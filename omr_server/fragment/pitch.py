"""Sounding alteration of a written note: accidental, else earlier accidental in the measure,
else a tie from the previous note, else the key signature.

An accidental holds for the same staff position (step and octave) until the barline, as in
common-practice engraving; the key signature applies to every octave.
"""

from __future__ import annotations

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
