"""Which accidentals are printed, staff by staff, measure by measure.

Pitches are spelled in the IR; whether a sign shows depends on the key signature and on what
came before in the measure (and, as a courtesy, in the measure before). The rules are those of
music21's `makeAccidentalsInMeasureStream`, which the exporter this replaced used (its
defaults: courtesy accidentals in any octave, and a sign repeated when the same altered note
returns after another note):

- a note whose step and octave sounded differently earlier in the measure shows its sign
  (a natural when it cancels);
- otherwise the key signature decides: a sign where the note leaves the key, a natural where
  it cancels the key's sharp or flat, none where it follows the key;
- a sign of the previous measure (in any octave) is cancelled by a courtesy sign;
- a note continuing a tie shows none.

Two deliberate differences from music21: the notes of a staff are taken in time order (music21
took one voice after another, so a second voice's sharp on beat 1 could lose its sign to the
first voice's on beat 3), and ties are followed within each voice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

_SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARP_ORDER = "FCGDAEB"
_NAMES = {-2: "flat-flat", -1: "flat", 1: "sharp", 2: "double-sharp"}
NATURAL = "natural"


@dataclass(eq=False)
class Spelled:
    """One written pitch, and what is decided about its sign."""

    step: str
    alter: int
    octave: int
    tie_starts: bool = False  # tied on to the next note (a start or a continue)
    sign: str | None = field(init=False, default=None)  # "sharp", …, "natural" once one is added
    shown: bool | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.sign = _NAMES.get(self.alter)

    @property
    def name(self) -> tuple[str, int]:
        return (self.step, self.alter)

    @property
    def name_with_octave(self) -> tuple[str, int, int]:
        return (self.step, self.alter, self.octave)

    @property
    def pitch_class(self) -> int:
        return (_SEMITONES[self.step] + self.alter) % 12

    @property
    def printed(self) -> str | None:
        """The MusicXML <accidental> to write, if any."""
        return self.sign if self.sign is not None and self.shown is not False else None

    def show(self) -> None:
        if self.sign is None:
            self.sign = NATURAL
        self.shown = True


class Item(NamedTuple):
    """A note, chord or rest of one voice, at its place in the measure."""

    offset: Fraction
    voice: int
    grace: bool
    pitches: tuple[Spelled, ...]  # none: a rest


class _Key(NamedTuple):
    alters: dict[str, int]  # the steps the signature alters

    @classmethod
    def of(cls, fifths: int) -> _Key:
        order = _SHARP_ORDER if fifths >= 0 else _SHARP_ORDER[::-1]
        sign = 1 if fifths >= 0 else -1
        return cls({order[i % 7]: sign * (1 + i // 7) for i in range(abs(fifths))})

    def has_name(self, p: Spelled) -> bool:
        return self.alters.get(p.step) == p.alter and p.alter != 0

    def has_step(self, p: Spelled) -> bool:
        return p.step in self.alters

    def diatonic(self, name: tuple[str, int]) -> bool:
        return self.alters.get(name[0], 0) == name[1]


@dataclass
class StaffAccidentals:
    """The accidental state of one staff, carried from measure to measure."""

    key: _Key | None = None
    previous: list[Spelled] = field(default_factory=list)  # the last measure's pitches
    ties: dict[int, set[tuple[str, int, int]]] = field(default_factory=dict)  # per voice

    def measure(self, fifths: int, key_written: bool, items: Sequence[Item]) -> None:
        """Decide the signs of one measure's `items` (of this staff) in place; `key_written`:
        the measure shows a key signature (the first one, or a change)."""
        key = _Key.of(fifths)
        if self.key is None:
            past_measure: list[Spelled] = []
        elif not key_written:
            past_measure = self.previous
        else:  # a new key: only what the old one did not hold still needs cancelling
            old = self.key
            past_measure = [p for p in self.previous if not old.diatonic(p.name)]
            self.ties = {v: {t for t in tied if key.diatonic(t[:2])} for v, tied in self.ties.items()}
        self.key = key
        past: list[Spelled] = []
        ties = {v: set(tied) for v, tied in self.ties.items()}
        carried: dict[int, set[tuple[str, int, int]]] = {}
        for item in in_time_order(items):
            tied = ties.setdefault(item.voice, set())
            starting: set[tuple[str, int, int]] = set()
            for p in item.pitches:
                others = [o for o in item.pitches if o is not p]
                _update(p, past, past_measure, others, key, p.name_with_octave in tied)
                if p.tie_starts:
                    starting.add(p.name_with_octave)
            past.extend(item.pitches)
            ties[item.voice] = starting
            # Across the barline a voice's last note or chord counts (a rest after it does not).
            if item.pitches or item.voice not in carried:
                carried[item.voice] = starting
        self.previous = past
        self.ties = carried


def in_time_order(items: Sequence[Item]) -> list[Item]:
    """A staff's notes as a reader meets them: by time, graces first, upper voice first."""
    return sorted(items, key=lambda i: (i.offset, not i.grace, i.voice))


def _update(
    p: Spelled,
    past: Sequence[Spelled],
    past_measure: Sequence[Spelled],
    others: Sequence[Spelled],
    key: _Key,
    tied: bool,
) -> None:
    """Whether `p` shows its sign (adding a natural where one is needed): music21's
    `Pitch.updateAccidentalDisplay` with its default options, branch for branch."""
    if tied:
        if p.sign is not None:
            p.shown = False
        return
    if any(o.step == p.step and o.pitch_class != p.pitch_class for o in others):
        p.show()  # F and F♯ in one chord
        return
    everything = [*past_measure, *past]
    if not everything:
        _by_key(p, key)
        return
    for q in reversed(past):  # the last note of this step and octave in the measure
        if q.step == p.step and q.octave == p.octave:
            if q.name != p.name:
                p.show()
                return
            break
    decided = False
    only_if_first = False  # shown unless an earlier sign of this note showed
    for i in range(len(everything) - 1, -1, -1):
        q = everything[i]
        in_measure = i >= len(past_measure)
        repeats = in_measure and all(r.name_with_octave == p.name_with_octave for r in everything[i:])
        if not in_measure and p.sign is not None and not key.has_name(p):
            p.shown = True
            return
        if q.step != p.step:
            continue
        same_octave = q.octave == p.octave
        if repeats and q.sign is not None and q.shown is True:
            if p.sign is not None:
                p.shown = False
            return
        if repeats and q.sign is not None and p.sign is not None and q.sign == p.sign:
            if not key.has_name(p) and (not same_octave or q.shown is False):
                only_if_first = True
                continue
            p.shown, decided = False, True
            break
        if q.sign == NATURAL and p.sign in (None, NATURAL):
            if key.has_step(p) and (not repeats or not same_octave):
                p.show()
            elif p.sign is not None:
                p.shown = False
            decided = True
            break
        if q.sign not in (None, NATURAL) and q.name != p.name and (p.sign is None or p.shown is False):
            p.show()  # F♯ earlier, F now
            decided = True
            break
        if q.sign in (None, NATURAL) and p.sign not in (None, NATURAL):
            p.shown, decided = True, True
            break
        if q.sign is not None and p.sign is not None and q.sign != p.sign:
            p.shown, decided = True, True
            break
        if q.sign is None and p.sign is not None:
            p.shown, decided = (key.has_step(p) if p.sign == NATURAL else True), True
            break
        if not repeats and q.sign is not None and q.sign == p.sign and same_octave:
            if q.shown is False:  # its sign was hidden by a tie
                only_if_first = True
            else:
                p.shown = not key.has_name(p)
                return
    if only_if_first:
        if not key.has_name(p):
            p.show()
        elif p.sign is not None:
            p.shown = False
    elif not decided:
        _by_key(p, key)


def _by_key(p: Spelled, key: _Key) -> None:
    """With nothing before it: a sign where the note leaves the key, a natural where it cancels."""
    if p.sign is not None:
        p.shown = key.has_step(p) if p.sign == NATURAL else not key.has_name(p)
    elif key.has_step(p):
        p.show()
