"""Split one staff's symbols into measures at its barlines.

Clef, key and time symbols before a measure's first note or rest are that measure's attributes;
a clef later in the measure is a mid-measure change and stays among the events. Signatures
after the last barline of a staff (courtesy key or time at a system's end) form a trailing
segment with no events; its attributes still count for the context that follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recognition.symbols import (
    BarlineSymbol,
    ClefSymbol,
    KeySymbol,
    NoteSymbol,
    RestSymbol,
    StaffSymbol,
    TimeSymbol,
)

Event = NoteSymbol | RestSymbol | ClefSymbol


@dataclass
class StaffMeasure:
    clef: ClefSymbol | None = None
    key: int | None = None
    time: TimeSymbol | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def has_music(self) -> bool:
        return any(isinstance(event, NoteSymbol | RestSymbol) for event in self.events)


@dataclass
class StaffMeasures:
    measures: list[StaffMeasure]
    # Attributes after the last measure (courtesy signatures), applied to the context at the end.
    trailing: StaffMeasure


def split_measures(symbols: list[StaffSymbol]) -> StaffMeasures:
    measures: list[StaffMeasure] = []
    current = StaffMeasure()
    for symbol in symbols:
        if isinstance(symbol, BarlineSymbol):
            if current.has_music:
                measures.append(current)
                current = StaffMeasure()
            # An empty segment (a barline right after another) keeps its attributes for the next one.
        elif isinstance(symbol, NoteSymbol | RestSymbol):
            current.events.append(symbol)
        elif isinstance(symbol, ClefSymbol):
            if current.has_music:
                current.events.append(symbol)
            else:
                current.clef = symbol
        elif isinstance(symbol, KeySymbol):
            current.key = symbol.fifths
        elif isinstance(symbol, TimeSymbol):
            current.time = symbol
    if current.has_music:
        measures.append(current)
        current = StaffMeasure()
    return StaffMeasures(measures, current)
