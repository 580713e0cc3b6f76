"""A small piano score that touches what the exporters must get right: a key signature, a time
change, chords, dots, a triplet, a tie over a barline, two voices on one staff, rests and a
tempo that is not the default."""

from __future__ import annotations

from fractions import Fraction

from etude.ir.v1 import score_pb2

from tests.ir.factories import IrBuilder


def piano_score() -> score_pb2.Score:
    b = IrBuilder(fifths=2, quarter_bpm=96.0)
    # 1 (3/4): melody, and a chord then a rest below.
    b.measure(time=(3, 4))
    b.note("F#5", at=0, type="quarter")
    b.note("E5", at=1, type="eighth")
    b.note("D5", at=Fraction(3, 2), type="eighth")
    b.note("C#5", at=2, type="quarter")
    b.chord(["D3", "A3"], at=0, type="half", staff=2)
    b.rest(at=2, type="quarter", staff=2)
    # 2: a dotted quarter, a triplet, and a note tied into the next measure.
    b.measure()
    b.note("B4", at=0, type="quarter", dots=1)
    b.note("C5", at=Fraction(3, 2), type="eighth")
    b.note("D5", at=2, type="eighth", tuplet=(3, 2))
    b.note("E5", at=Fraction(7, 3), type="eighth", tuplet=(3, 2))
    b.note("F#5", at=Fraction(8, 3), type="eighth", tuplet=(3, 2), tie_start=True)
    b.chord(["G2", "D3", "B3"], at=0, type="half", dots=1, staff=2)
    # 3 (4/4): the tie ends; two voices on the upper staff.
    b.measure(time=(4, 4))
    b.note("F#5", at=0, type="half", tie_stop=True)
    b.note("A5", at=2, type="half")
    b.note("D4", at=0, type="quarter", voice=2)
    b.note("E4", at=1, type="quarter", voice=2)
    b.note("F#4", at=2, type="half", voice=2)
    b.note("D2", at=0, type="whole", staff=2)
    # 4: a final chord over a whole rest.
    b.measure()
    b.chord(["D4", "F#4", "A4", "D5"], at=0, type="whole")
    b.rest(at=0, type="whole", staff=2, full_measure=True)
    return b.score()
