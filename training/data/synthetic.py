"""Random but musically plausible staves: the bulk of the training data.

Covers what real scores show (clefs, all keys, common and odd metres, whole to 32nd notes
and rests, dots, tuplets, chords, accidentals incl. courtesy ones, ties, beams, ledger lines,
two voices, grace notes, clef/key/time changes, repeats) in more even proportions than real
music, so rare symbols are seen often enough.
"""

from __future__ import annotations

import random
from fractions import Fraction

from ir.build import TYPE_QUARTERS
from recognition.symbols import ClefSymbol, TimeSymbol
from recognition.vocabulary import pitch_at
from training.data.score import Event, Measure, Piece, Pitch, key_alter, spell_accidentals

SINGLE_CLEFS = [
    (ClefSymbol("G", 2), 50),
    (ClefSymbol("F", 4), 25),
    (ClefSymbol("C", 3), 8),
    (ClefSymbol("C", 4), 7),
    (ClefSymbol("G", 2, -1), 4),
    (ClefSymbol("C", 1), 2),
    (ClefSymbol("C", 2), 1),
    (ClefSymbol("F", 3), 1),
    (ClefSymbol("C", 5), 1),
    (ClefSymbol("G", 1), 1),
]
TIMES = [
    (TimeSymbol(4, 4), 14),
    (TimeSymbol(4, 4, "common"), 8),
    (TimeSymbol(3, 4), 14),
    (TimeSymbol(2, 4), 10),
    (TimeSymbol(6, 8), 10),
    (TimeSymbol(2, 2, "cut"), 5),
    (TimeSymbol(2, 2), 2),
    (TimeSymbol(3, 8), 5),
    (TimeSymbol(9, 8), 3),
    (TimeSymbol(12, 8), 3),
    (TimeSymbol(5, 4), 2),
    (TimeSymbol(7, 8), 2),
    (TimeSymbol(6, 4), 2),
    (TimeSymbol(3, 2), 2),
    (TimeSymbol(5, 8), 2),
    (TimeSymbol(1, 4), 1),
]
# (note type, weight) per density level
RHYTHM_WEIGHTS: dict[int, dict[str, float]] = {
    0: {"whole": 3, "half": 5, "quarter": 6, "eighth": 3, "16th": 1},
    1: {"half": 2, "quarter": 6, "eighth": 6, "16th": 3, "32nd": 0.2},
    2: {"quarter": 3, "eighth": 6, "16th": 5, "32nd": 0.7},
}


def _pick(rng: random.Random, weighted):
    items, weights = zip(*weighted, strict=True)
    return rng.choices(items, weights)[0]


class _Voice:
    """Pitch random walk for one voice, in staff positions."""

    def __init__(self, rng: random.Random, low: int, high: int):
        self.rng, self.low, self.high = rng, low, high
        self.pos = rng.randint(low, high)

    def next(self) -> int:
        step = self.rng.choice([-4, -3, -2, -1, -1, 0, 1, 1, 2, 3, 4, 5, -5, 7, -7])
        self.pos = min(self.high, max(self.low, self.pos + step))
        return self.pos


def _pitch(rng: random.Random, position: int, clef: ClefSymbol, fifths: int, chromatic: float) -> Pitch:
    step, octave = pitch_at(position, clef)
    alter = key_alter(fifths, step)
    if rng.random() < chromatic:
        alter = rng.choice([a for a in (-1, 0, 1) if a != alter] + ([2, -2] if rng.random() < 0.1 else []))
    return Pitch(step, octave, alter)


# Figures of a triplet in units of its note value (three units in the time of two): mostly
# three equal notes, but also the long-short, short-long and dotted figures and subdivided
# halves that real music writes under one "3" (classical slow movements are full of them).
TRIPLET_FIGURES: list[tuple[tuple[Fraction, ...], int]] = [
    ((Fraction(1), Fraction(1), Fraction(1)), 12),
    ((Fraction(2), Fraction(1)), 3),
    ((Fraction(1), Fraction(2)), 2),
    ((Fraction(3, 2), Fraction(1, 2), Fraction(1)), 1),
    ((Fraction(1, 2), Fraction(1, 2), Fraction(1), Fraction(1)), 1),
    ((Fraction(1), Fraction(1), Fraction(1, 2), Fraction(1, 2)), 1),
]
_TYPE_OF_QUARTERS = {q: t for t, q in TYPE_QUARTERS.items()}


def triplet_values(unit: str, figure: tuple[Fraction, ...]) -> list[tuple[str, int]]:
    """The written (type, dots) of each note of a triplet figure on `unit`."""
    values = []
    for units in figure:
        written = TYPE_QUARTERS[unit] * units
        if written in _TYPE_OF_QUARTERS:
            values.append((_TYPE_OF_QUARTERS[written], 0))
        else:  # one and a half units: a dotted note
            values.append((_TYPE_OF_QUARTERS[written * Fraction(2, 3)], 1))
    return values


def _fill_voice(
    rng: random.Random,
    length: Fraction,
    density: int,
    walker: _Voice,
    clef: ClefSymbol,
    fifths: int,
    chord_p: float,
    max_chord: int,
    rest_p: float,
    tuplet_p: float = 0.08,
) -> list[Event]:
    events: list[Event] = []
    used = Fraction(0)
    weights = RHYTHM_WEIGHTS[density]
    chromatic = rng.choice([0.0, 0.05, 0.15, 0.3])

    def make_pitches() -> list[Pitch]:
        base = walker.next()
        positions = {base}
        if rng.random() < chord_p:
            for _ in range(rng.randint(1, max_chord - 1)):
                positions.add(base + rng.choice([2, 3, 4, 5, 7, -2, -3, -5]))
        return [_pitch(rng, p, clef, fifths, chromatic) for p in sorted(positions) if -10 <= p <= 19]

    while used < length:
        remaining = length - used
        # tuplets: three in the time of two, when a whole beat-group is free
        if rng.random() < tuplet_p:
            unit = rng.choice(["eighth", "16th", "16th", "quarter"])
            span = TYPE_QUARTERS[unit] * 2
            if span <= remaining and used % span == 0:
                figure = _pick(rng, TRIPLET_FIGURES)
                for k, (note_type, dots) in enumerate(triplet_values(unit, figure)):
                    rest = rng.random() < rest_p / 2
                    last = k == len(figure) - 1
                    events.append(
                        Event(note_type, dots, [] if rest else make_pitches(), (3, 2), k == 0, last)
                    )
                used += span
                continue
        # keep onsets on the grid of each note's own value, as real rhythms do
        candidates = [
            (t, w)
            for t, w in weights.items()
            if TYPE_QUARTERS[t] <= remaining and used % TYPE_QUARTERS[t] == 0
        ]
        if not candidates:
            candidates = [
                (t, 1) for t, q in TYPE_QUARTERS.items() if q <= remaining and used % q == 0 and t != "breve"
            ]
        if not candidates:  # remaining below a 64th cannot happen with our metres
            break
        note_type = _pick(rng, candidates)
        dots = 0
        if rng.random() < 0.2 and TYPE_QUARTERS[note_type] * Fraction(3, 2) <= remaining:
            dots = 1
            if rng.random() < 0.05 and TYPE_QUARTERS[note_type] * Fraction(7, 4) <= remaining:
                dots = 2
        if rng.random() < 0.03 and events and not events[-1].is_rest:
            grace_type = rng.choice(["eighth", "16th"])
            events.append(Event(grace_type, 0, [_pitch(rng, walker.next(), clef, fifths, 0.1)], grace=True))
        is_rest = rng.random() < rest_p
        event = Event(note_type, dots, [] if is_rest else make_pitches())
        events.append(event)
        used += event.duration
    return events


def _add_ties(rng: random.Random, piece: Piece, p: float) -> None:
    """Tie a note to the next note of its voice (which then repeats its pitches)."""
    for staff in piece.staves:
        previous_by_voice: dict[int, Event] = {}
        for m in staff:
            for v, voice in enumerate(m.voices):
                for e in voice:
                    if e.clef is not None or e.grace:
                        continue
                    prev = previous_by_voice.get(v)
                    if prev is not None and prev.pitches and e.pitches and rng.random() < p:
                        e.pitches = [Pitch(q.step, q.octave, q.alter, tie_stop=True) for q in prev.pitches]
                        for q in prev.pitches:
                            q.tie_start = True
                    previous_by_voice[v] = e
                if len(m.voices) == 1:
                    previous_by_voice.pop(1, None)


def random_piece(rng: random.Random) -> Piece:
    grand = rng.random() < 0.4
    if grand:
        clefs = rng.choices(
            [
                [ClefSymbol("G", 2), ClefSymbol("F", 4)],
                [ClefSymbol("G", 2), ClefSymbol("G", 2)],
                [ClefSymbol("F", 4), ClefSymbol("F", 4)],
            ],
            [85, 8, 7],
        )[0]
    else:
        clefs = [_pick(rng, SINGLE_CLEFS)]
    fifths = max(-7, min(7, round(rng.gauss(0, 3))))
    time = _pick(rng, TIMES)
    density = rng.choice([0, 1, 1, 2])
    # some pieces run in triplets for bars on end (as in many slow movements), most have few
    tuplet_p = rng.choice([0.02, 0.08, 0.08, 0.3, 0.6])
    n_measures = rng.randint(2, [7, 5, 4][density])
    chord_p = rng.choice([0.0, 0.1, 0.3, 0.6]) * (1.5 if grand else 1)
    rest_p = rng.choice([0.03, 0.1, 0.2])
    staves: list[list[Measure]] = [[] for _ in clefs]
    lengths: list[Fraction] = []
    current_clefs = list(clefs)
    walkers = [[_Voice(rng, rng.randint(-6, 2), rng.randint(8, 15)), _Voice(rng, -5, 4)] for _ in clefs]
    for i in range(n_measures):
        new_time = time if i == 0 else None
        new_key = fifths if i == 0 else None
        if i > 0 and rng.random() < 0.04:
            new_key = fifths = max(-7, min(7, fifths + rng.choice([-3, -2, -1, 1, 2, 3])))
        if i > 0 and rng.random() < 0.04:
            new_time = time = _pick(rng, TIMES)
        length = Fraction(4 * time.numerator, time.denominator)
        lengths.append(length)
        left_repeat = rng.random() < (0.06 if i == 0 else 0.03)
        for s, staff in enumerate(staves):
            new_clef = current_clefs[s] if i == 0 else None
            if i > 0 and rng.random() < 0.04:
                options = [c for c, _ in SINGLE_CLEFS[:4] if c != current_clefs[s]]
                new_clef = current_clefs[s] = rng.choice(options)
            clef = current_clefs[s]
            if rng.random() < 0.04 and i > 0:
                voices = [[Event("whole", full_measure=True)]]
            elif rng.random() < 0.15:
                voices = [
                    _fill_voice(rng, length, min(density, 1), w, clef, fifths, 0.1, 2, rest_p, tuplet_p)
                    for w in walkers[s][:2]
                ]
            else:
                most = 5 if grand else 4  # notes in a chord
                voice = _fill_voice(
                    rng, length, density, walkers[s][0], clef, fifths, chord_p, most, rest_p, tuplet_p
                )
                voices = [voice]
            staff.append(Measure(voices, new_clef, new_key, new_time, left_repeat))
    # barlines: shared by the staves of a system
    for i in range(n_measures):
        if i == n_measures - 1:
            end = _pick(rng, [("regular", 55), ("final", 30), ("repeat-end", 10), ("double", 5)])
        else:
            end = _pick(rng, [("regular", 92), ("double", 4), ("repeat-end", 4)])
            if staves[0][i + 1].left_repeat and end == "double":
                end = "regular"
        for staff in staves:
            staff[i].end = end
    piece = Piece(staves, lengths)
    _add_ties(rng, piece, rng.choice([0.0, 0.05, 0.12]))
    spell_accidentals(piece, courtesy=rng.choice([0.0, 0.02, 0.06]), rng=rng)
    return piece
