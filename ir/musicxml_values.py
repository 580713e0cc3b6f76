"""Note values for MusicXML: which lengths one note can be written as, and how.

A length (in quarter notes) is written as a type, dots and at most one tuplet. The engraved
value of an event is used when it adds up to the length; otherwise the value is found the way
music21 found it for the exporter this module replaced (a plain or dotted type first, then the
smallest type that a 3-, 5-, 7-, 11- or 13-tuplet of it spells), and only plain values are
accepted as writable: types from a breve to a 64th, tuplets of at most 9 in the time of 8.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from typing import NamedTuple

from etude.ir.v1 import events_pb2

from ir.build import NOTE_TYPE_NAMES, TYPE_QUARTERS

Event = events_pb2.NoteEvent | events_pb2.RestEvent

# Every duration is a whole number of 10080ths of a quarter (the divisions music21 wrote): a
# length that is not would have to be rounded, and its voice would no longer add up.
MAX_DIVISIONS = 10080

# The types MusicXML readers handle, breve to 64th, with their lengths in quarters.
WRITABLE_TYPES: dict[str, Fraction] = TYPE_QUARTERS
# music21's full range of types, which the search for a value runs over (a length that only a
# 128th-note tuplet spells is found as that, and so is not writable).
_ALL_TYPES: dict[str, Fraction] = {
    **{name: Fraction(64) / 2**i for i, name in enumerate(("duplex-maxima", "maxima", "longa"))},
    **WRITABLE_TYPES,
    **{
        name: Fraction(1, 32) / 2**i for i, name in enumerate(("128th", "256th", "512th", "1024th", "2048th"))
    },
}
_TYPE_BY_LENGTH = {length: name for name, length in _ALL_TYPES.items()}
_SHORTEST, _LONGEST = min(_ALL_TYPES.values()), max(_ALL_TYPES.values())
_TUPLET_ACTUALS = (3, 5, 7, 11, 13)
BEAM_COUNTS = {"eighth": 1, "16th": 2, "32nd": 3, "64th": 4}  # beams (flags) a type has


class Tuplet(NamedTuple):
    actual: int  # notes written…
    normal: int  # …in the time of
    normal_type: str
    normal_dots: int = 0

    @property
    def total(self) -> Fraction:
        """The length of the whole tuplet group (three triplet eighths: one quarter)."""
        return _ALL_TYPES[self.normal_type] * dot_factor(self.normal_dots) * self.normal


class NoteValue(NamedTuple):
    type: str
    dots: int = 0
    tuplet: Tuplet | None = None

    @property
    def length(self) -> Fraction:
        return _value_length(self)


@cache
def _value_length(value: NoteValue) -> Fraction:
    length = _ALL_TYPES[value.type] * dot_factor(value.dots)
    return length if value.tuplet is None else length * value.tuplet.normal / value.tuplet.actual


def dot_factor(dots: int) -> Fraction:
    return 2 - Fraction(1, 2**dots)


def divisible(length: Fraction) -> bool:
    return MAX_DIVISIONS % length.denominator == 0


def engraved_value(event: Event, length: Fraction) -> NoteValue | None:
    """The event's engraved type/dots/tuplet when they add up to `length` and can be counted."""
    tuplet = event.tuplet if event.HasField("tuplet") else None
    if tuplet is None or tuplet.actual_notes <= 0 or tuplet.normal_notes <= 0:
        value = _engraved(event.type, event.dots, 0, 0)
    else:
        value = _engraved(event.type, event.dots, tuplet.actual_notes, tuplet.normal_notes)
    return value if value is not None and value.length == length and divisible(length) else None


@cache
def _engraved(note_type: int, dots: int, actual: int, normal: int) -> NoteValue | None:
    type_name = NOTE_TYPE_NAMES.get(note_type)
    if type_name is None:
        return None
    return NoteValue(type_name, dots, Tuplet(actual, normal, type_name) if actual else None)


@cache
def plain_value(length: Fraction) -> NoteValue | None:
    """The one value `length` is written as without an engraved one, if it is writable."""
    value = _find_value(length) if divisible(length) else None
    if value is None or value.type not in WRITABLE_TYPES:
        return None
    tuplet = value.tuplet
    if tuplet is not None and (tuplet.actual > 9 or tuplet.normal > 8):
        return None  # 11:8 of a 16th and the like: not a value a reader knows
    return value


def writable(length: Fraction, events: Sequence[Event]) -> bool:
    """Whether `length` is one value MusicXML can write: the events' engraved one, or a plain,
    dotted or simple-tuplet value from a breve to a 64th."""
    if events and engraved_value(events[0], length) is not None:
        return True
    return plain_value(length) is not None


def slot_value(length: Fraction, events: Sequence[Event]) -> NoteValue:
    """How a writable length is written: as engraved when that agrees, else its plain value."""
    value = (engraved_value(events[0], length) if events else None) or plain_value(length)
    if value is None:
        raise ValueError(f"{length} quarters is not one writable value")
    return value


def _find_value(length: Fraction) -> NoteValue | None:
    """A type with up to four dots; else the shortest type of which some notes of a tuplet
    (with up to one dot) make `length`."""
    for dots in range(5):
        type_name = _TYPE_BY_LENGTH.get(length / dot_factor(dots))
        if type_name is not None:
            return NoteValue(type_name, dots)
    if not _SHORTEST <= length < _LONGEST:
        return None
    for type_name, type_length in sorted(_ALL_TYPES.items(), key=lambda item: item[1]):
        for actual in _TUPLET_ACTUALS:
            for normal in range(1, actual):
                for dots in (0, 1):
                    if type_length / actual * normal * dot_factor(dots) == length:
                        return NoteValue(type_name, dots, Tuplet(actual, normal, type_name, dots))
    return None
