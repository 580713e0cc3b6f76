"""Triplets the print leaves implied: readings of an overfull bar with runs of three equal notes
taken as triplets, when that is exactly what the bar has too much.

Engravers mark the first triplets of a passage with a "3" and leave the rest to the reader
(simile); old editions often print none after the first bar, and a number can be too faint or
fall outside the crop. The model then reads plain eighths, and the bar overflows its metre by a
third of their length. The bar search (`reread.py`) adds marks one token at a time, and each
costs it as much as an unprinted number is unlikely, so it rarely finds these; this module
proposes them whole, for the re-reader to score with the model.

A candidate converts groups of three consecutive untupled, undotted notes or rests of one value
in one voice that start on the grid of their triplet (a group of eighths spans a quarter, so it
starts on a quarter of the voice's clock), until every voice that overflowed fills the bar.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from ir.build import TYPE_QUARTERS
from recognition.symbols import NoteSymbol, RestSymbol
from recognition.vocabulary import BARLINES, tokens_to_symbols

TRIPLET = "tup:3/2"
# Candidates per bar at most: the re-reader scores each one with the decoder.
MAX_CANDIDATES = 8
MAX_SOLUTIONS_PER_VOICE = 8


@dataclass(frozen=True)
class _Event:
    """A note (chord tones aside) or rest of one voice, as read."""

    duration: Fraction
    value: Fraction | None  # its written value when it may join a triplet, else None
    mark_after: int  # index of the token that a tuplet mark follows (its dur:/rest: token)


def _voices(tokens: Sequence[str]) -> dict[int, list[_Event]]:
    """The events of a bar's tokens (no barline among them), voice by voice, in order."""
    # Decoded with each token's index as its "column", so every symbol says where its pos:/rest:
    # token stands; the duration token of a note is the first dur: after its pos:.
    symbols = tokens_to_symbols(tokens, token_x=[float(i) for i in range(len(tokens))])
    voices: dict[int, list[_Event]] = {}
    for symbol in symbols:
        if not isinstance(symbol, NoteSymbol | RestSymbol) or symbol.x is None:
            continue
        if isinstance(symbol, NoteSymbol) and (symbol.chord or symbol.grace):
            continue
        if isinstance(symbol, RestSymbol) and symbol.full_measure:
            return {}  # a whole-bar rest fits any metre
        at = int(symbol.x)
        if isinstance(symbol, NoteSymbol):
            at = next((i for i in range(at, len(tokens)) if tokens[i].startswith("dur:")), -1)
            if at < 0:
                continue
        plain = symbol.tuplet is None and symbol.dots == 0
        value = TYPE_QUARTERS[symbol.note_type] if plain else None
        voices.setdefault(symbol.voice, []).append(_Event(symbol.duration, value, at))
    return voices


def _groupings(events: Sequence[_Event], excess: Fraction) -> Iterator[tuple[int, ...]]:
    """Sets of triplet groups (the indices of their first events) that take exactly `excess`
    quarters out of the voice, each group starting on its triplet's grid."""
    found = 0

    Groups = tuple[int, ...]

    def search(i: int, clock: Fraction, taken: Fraction, groups: Groups) -> Iterator[Groups]:
        nonlocal found
        if taken == excess:
            found += 1
            yield groups
            return
        if i >= len(events) or taken > excess or found >= MAX_SOLUTIONS_PER_VOICE:
            return
        value = events[i].value
        trio = events[i : i + 3]
        if (
            value is not None
            and len(trio) == 3
            and all(e.value == value for e in trio)
            and clock % (2 * value) == 0
            and taken + value <= excess
        ):
            yield from search(i + 3, clock + 2 * value, taken + value, (*groups, i))
        yield from search(i + 1, clock + events[i].duration, taken, groups)

    yield from search(0, Fraction(0), Fraction(0), ())


def implied_triplet_bars(tokens: Sequence[str], expected: Fraction) -> list[list[str]]:
    """Readings of the bar `tokens` (its barline excluded) that fill `expected` quarters by taking
    runs of equal notes as triplets; empty when the bar does not overflow or no runs fit."""
    if any(t in BARLINES for t in tokens):
        raise ValueError("a bar's tokens come without their barline")
    voices = _voices(tokens)
    per_voice: list[list[tuple[int, ...]]] = []
    events_of: list[list[_Event]] = []
    for events in voices.values():
        length = sum((e.duration for e in events), Fraction(0))
        if length <= expected:
            continue
        options = list(_groupings(events, length - expected))
        if not options:
            return []
        per_voice.append(options)
        events_of.append(events)
    candidates: list[list[str]] = []
    for choice in itertools.islice(itertools.product(*per_voice), MAX_CANDIDATES):
        marks = {
            events[g + k].mark_after
            for events, groups in zip(events_of, choice, strict=True)
            for g in groups
            for k in range(3)
        }
        if marks:
            bar: list[str] = []
            for i, token in enumerate(tokens):
                bar.append(token)
                if i in marks:
                    bar.append(TRIPLET)
            candidates.append(bar)
    return candidates
