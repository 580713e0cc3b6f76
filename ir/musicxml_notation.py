"""What an engraver adds to the notes of a measure: beams, stems of beamed groups and tuplet
brackets, per voice (accidentals: `ir.musicxml_accidentals`).

The rules are those of the music21 exporter this replaced (`makeBeams`, `getBeams`,
`setStemDirectionForBeamGroups`, `makeTupletBrackets`), so that scores look as they did:

- beams group eighths and shorter within the beam spans of the time signature (the beat in
  2/4, 3/4 and 4/4, whose second beams break at each eighth; the dotted quarter in 6/8; 2+3
  in 5/4; the whole bar of 3/8), never across a rest, with hooks where a short note stands
  alone at a level; a pickup is beamed as the end of a full bar;
- a beamed group's stems all point one way, away from the middle line as its first and last
  pitches lie (in a staff with several voices: up in the first voice, down in the others);
- a tuplet bracket runs from the first note of a group to the note that completes it.

One deliberate difference: a bar longer than its time signature (a missed barline) is beamed
as if the bar repeated, where music21 left it unbeamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise
from typing import NamedTuple

from ir.musicxml_values import Tuplet

# Beam types as MusicXML writes them.
_XML_BEAM = {
    "start": "begin",
    "continue": "continue",
    "stop": "end",
    "partial-right": "forward hook",
    "partial-left": "backward hook",
}
_CLOSED = ("start", "stop", "continue")
_STEP_NUMBERS = {step: i for i, step in enumerate("CDEFGAB", start=1)}


class BeamMeter(NamedTuple):
    """The spans beams may not cross, at each beam level (level 0: the primary beam)."""

    bar: Fraction  # the time signature's bar length, in quarters
    levels: tuple[tuple[Fraction, ...], ...]  # span lengths of each level, adding up to `bar`

    def span(self, depth: int, position: Fraction) -> tuple[Fraction, Fraction]:
        """(start, end) of the span at `depth` holding `position`; past the bar, the bar repeats."""
        lengths = self.levels[min(depth, len(self.levels) - 1)]
        repeat = (position // self.bar) * self.bar
        start = repeat
        for length in lengths:
            if position < start + length:
                return start, start + length
            start += length
        return start - lengths[-1], start  # not reached: the spans add up to the bar


def beam_meter(numerator: int, denominator: int) -> BeamMeter | None:
    """music21's default beam partitions of a time signature (None: no time signature)."""
    if numerator <= 0 or denominator <= 0:
        return None
    unit = Fraction(4, denominator)
    bar = unit * numerator
    levels: list[list[Fraction]]
    whole_bar = (
        (denominator == 8 and numerator <= 3)
        or (denominator == 16 and numerator <= 5)
        or (denominator == 32 and numerator <= 11)
    )
    if whole_bar:
        levels = [[bar]]
    elif numerator in (2, 3, 4):
        levels = [[unit] * numerator]
        if denominator == 4:  # the beat's second beams break at each eighth
            levels.append([unit / 2] * (2 * numerator))
    elif numerator == 5:
        levels = [[2 * unit, 3 * unit]]
        if denominator == 4:
            levels.append([unit] * 5)
    elif numerator == 7:
        levels = [[2 * unit, 2 * unit, 3 * unit]]
    elif numerator in (6, 9, 12, 15, 18, 21):
        levels = [[3 * unit] * (numerator // 3)]
    else:
        levels = [[bar]]
    return BeamMeter(bar, tuple(tuple(level) for level in levels))


class BeamInput(NamedTuple):
    offset: Fraction  # from the measure start
    length: Fraction
    beams: int  # beams its type has (0: a rest, or a quarter or longer)


def beams(
    elements: Sequence[BeamInput], meter: BeamMeter, *, start: Fraction, last_stops: bool
) -> list[tuple[str, ...]]:
    """MusicXML beam values (one per beam number) of each element of one voice, graces left out.

    `start` shifts a pickup to the end of the bar; `last_stops` is False only for a short
    single-voice measure (music21 let its last beam run on there)."""
    count = len(elements)
    if count <= 1:
        return [() for _ in elements]
    types: list[list[str | None] | None] = [[None] * e.beams if e.beams else None for e in elements]
    previous: list[str | None] | None = None
    for i in range(count):  # a beamable note between unbeamable ones has nothing to beam to
        following = types[i + 1] if i + 1 < count else None
        if previous is None and following is None:
            types[i] = None
        previous = types[i]
    for depth in range(max(e.beams for e in elements)):
        for i in range(count):
            _beam_type(types, elements, i, depth, meter, start, last_stops)
    _sanitise(types)
    _merge_partials(types)
    return [tuple(_XML_BEAM[t] for t in row if t) if row else () for row in types]


def _has(row: list[str | None] | None, depth: int) -> bool:
    return row is not None and len(row) > depth


def _beam_type(
    types: list[list[str | None] | None],
    elements: Sequence[BeamInput],
    i: int,
    depth: int,
    meter: BeamMeter,
    start: Fraction,
    last_stops: bool,
) -> None:
    """The type of beam `depth + 1` of element `i` (music21's getBeams, one element, one level)."""
    row = types[i]
    if row is None or len(row) <= depth:
        return
    position = elements[i].offset + start
    end = position + elements[i].length
    last, first = i == len(elements) - 1, i == 0
    following = None if last else types[i + 1]
    previous = None if first else types[i - 1]
    span_start, span_end = meter.span(depth, position)
    if end == span_end and (position == span_start or (previous is None and depth == 0)):
        types[i] = None  # a note that fills its span alone is not beamed
        return
    kind: str
    if first and start == 0:
        kind = "start" if _has(following, depth) else "partial-right"
    elif last and last_stops:
        kind = "stop" if _has(previous, depth) else "partial-left"
    elif not _has(previous, depth):
        if depth == 0 and following is None:
            types[i] = None
            return
        if (following is None and depth > 0) or end >= span_end:
            kind = "partial-left"
        else:
            kind = "start" if _has(following, depth) else "partial-right"
    elif previous is not None and previous[depth] in ("stop", "partial-left"):
        if following is not None:
            kind = "start" if _has(following, depth) else "partial-right"
        else:
            kind = "partial-left"
    elif not _has(following, depth):
        kind = "stop"
    elif end < span_end:
        kind = "continue"
    else:
        kind = "stop"  # the next note lies in a later span
    row[depth] = kind


def _sanitise(types: list[list[str | None] | None]) -> None:
    """Hooks alone are no beam; a hook after a beam's start points forward, after its end back."""
    for i, row in enumerate(types):
        if row is None:
            continue
        if not any(t in _CLOSED for t in row):
            types[i] = None
            continue
        started = stopped = False
        for depth, kind in enumerate(row):
            if kind == "start":
                started = True
            elif kind == "stop":
                stopped = True
            elif started and kind == "partial-left":
                row[depth] = "partial-right"
            elif stopped and kind == "partial-right":
                row[depth] = "partial-left"


def _merge_partials(types: list[list[str | None] | None]) -> None:
    """Hooks that face each other become one beam (16ths 2 and 3 across an eighth's span)."""
    for this, following in pairwise(types):
        if not this or not following:
            continue
        for depth, kind in enumerate(this):
            if kind != "partial-right" or len(following) <= depth:
                continue
            other = following[depth]
            if other in ("partial-right", "continue", "stop"):
                continue
            this[depth] = "start"
            if other == "partial-left":
                following[depth] = "stop"
            elif other == "start":
                following[depth] = "continue"
    for previous, this in pairwise(types):
        if not this or not previous:
            continue
        for depth, kind in enumerate(this):
            if kind == "partial-left" and len(previous) > depth and previous[depth] == "stop":
                this[depth] = "stop"
                previous[depth] = "continue"


def beam_groups(beam_values: Sequence[tuple[str, ...]]) -> list[list[int]]:
    """Indices of the elements of each beamed group (from a primary begin to its end)."""
    groups: list[list[int]] = []
    current: list[int] | None = None
    for i, values in enumerate(beam_values):
        first = values[0] if values else None
        if first == "begin":
            current = current if current is not None else []
        if current is not None:
            current.append(i)
        if first == "end" and current is not None:
            groups.append(current)
            current = None
    return groups


def clef_middle_line(sign: str, line: int, octave_change: int) -> int:
    """The diatonic number (C4 = 29, as music21 counts) of a clef's middle staff line."""
    bottom = {"G": 31, "F": 19, "C": 25, "percussion": 31}.get(sign, 31)  # E4, G2, F3 at their home lines
    home = {"G": 2, "F": 4, "C": 3}.get(sign)
    if home is not None and line:
        bottom -= 2 * (line - home)
    if sign != "percussion":
        bottom += 7 * octave_change
    return bottom + 4


def diatonic_number(step: str, octave: int) -> int:
    return 7 * octave + _STEP_NUMBERS[step]


def group_stem(pitches: Sequence[tuple[str, int]], middle_line: int) -> str:
    """Stem direction of a beamed group: down when its first and last pitches (step, octave)
    lie, together, on or above the middle line."""
    ends = [pitches[0], pitches[-1]] if len(pitches) > 1 else list(pitches)
    return "down" if sum(diatonic_number(s, o) - middle_line for s, o in ends) >= 0 else "up"


class TupletInput(NamedTuple):
    length: Fraction
    tuplet: Tuplet | None


def tuplet_brackets(elements: Sequence[TupletInput]) -> list[str | None]:
    """Per element of one voice (graces left out): "start" and "stop" of a bracket, "single"
    for a lone tuplet note (a number, no bracket), or None."""
    marks: list[str | None] = []
    filled = Fraction(0)
    target: Fraction | None = None
    previous: Tuplet | None = None
    for i, element in enumerate(elements):
        tuplet = element.tuplet
        following = elements[i + 1].tuplet if i + 1 < len(elements) else None
        mark = None
        if tuplet is not None:
            filled += element.length
            if previous is None or target is None:
                if following is None:
                    mark, filled = "single", Fraction(0)
                else:
                    mark, target = "start", tuplet.total
            elif following is None or filled >= target:
                mark, target, filled = "stop", None, Fraction(0)
        marks.append(mark)
        previous = tuplet
    return marks
