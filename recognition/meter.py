"""Do a staff reading's bars add up? Measure lengths from staff symbols, checked against the metre.

A reading whose inner bars do not fill the time signature has a rhythm wrong (a missed dot,
tuplet mark or note). The recogniser finds such staves with `misfit_bars` against the lengths
`page_bar_lengths` expects, and re-reads their misfit bars (`recognition/reread.py`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

from recognition.symbols import BarlineSymbol, NoteSymbol, RestSymbol, StaffSymbol, TimeSymbol
from recognition.vocabulary import tokens_to_symbols


def bar_lengths(symbols: Sequence[StaffSymbol]) -> list[tuple[Fraction | None, bool]]:
    """Per bar closed by a barline: (length in quarters, starts with a time signature). The length
    is the longest voice; None for a full-measure rest, which fits any metre."""
    bars: list[tuple[Fraction | None, bool]] = []
    voices: dict[int, Fraction] = {}
    full_rest = timed = False
    for sym in symbols:
        if isinstance(sym, BarlineSymbol):
            bars.append((None if full_rest else max(voices.values(), default=Fraction(0)), timed))
            voices, full_rest, timed = {}, False, False
        elif isinstance(sym, TimeSymbol):
            timed = True
        elif isinstance(sym, RestSymbol) and sym.full_measure:
            full_rest = True
        elif isinstance(sym, NoteSymbol | RestSymbol) and not (isinstance(sym, NoteSymbol) and sym.chord):
            voices[sym.voice] = voices.get(sym.voice, Fraction(0)) + sym.duration
    return bars


def metre_length(symbols: Sequence[StaffSymbol]) -> Fraction | None:
    """The bar length the staff's own time signature asks for, if the staff shows one."""
    times = [s for s in symbols if isinstance(s, TimeSymbol)]
    return Fraction(4 * times[-1].numerator, times[-1].denominator) if times else None


def usual_length(bars: Sequence[tuple[Fraction | None, bool]]) -> Fraction | None:
    """The length most bars of the staff share, when at least two and over half of them do."""
    lengths = Counter(length for length, _ in bars if length)
    if not lengths:
        return None
    length, count = lengths.most_common(1)[0]
    return length if count >= 2 and count * 2 > len(bars) else None


def misfit_bars(symbols: Sequence[StaffSymbol], expected: Fraction) -> int:
    """How many bars of the staff do not fill `expected` quarters (see `page_bar_lengths`).
    A bar that opens with a time signature may be a pick-up: not counted."""
    bars = bar_lengths(symbols)
    return sum(1 for length, timed in bars if length is not None and not timed and length != expected)


def page_bar_lengths(
    staves: Sequence[Sequence[StaffSymbol]], carried: Fraction | None = None
) -> list[Fraction | None]:
    """The bar length each staff of a page (in reading order) should have: its own time signature,
    else the last one an earlier staff of the page showed, else the length most bars of the page
    share (a page that continues a piece shows no time signature), else `carried` (the bar length
    in force where the previous page ended), else unknown.

    The page's own bars come before `carried`: a time signature misread earlier (or a change of
    metre whose new signature was missed) would otherwise set every bar of the page against the
    metre. Where the bars agree on no length (every bar misread alike, or a page of varied
    rhythms), the metre in force is the best guess left."""
    usual = usual_length([bar for symbols in staves for bar in bar_lengths(symbols)])
    current: Fraction | None = None
    lengths: list[Fraction | None] = []
    for symbols in staves:
        own = metre_length(symbols)
        lengths.append(own or current or usual or carried)
        current = own or current
    return lengths


def last_metre(staves: Sequence[Sequence[StaffSymbol]], carried: Fraction | None = None) -> Fraction | None:
    """The bar length in force after a page's staves (in reading order): the last time signature
    they show, else `carried`."""
    shown = [length for symbols in staves if (length := metre_length(symbols)) is not None]
    return shown[-1] if shown else carried


def misread_metres(staves: Sequence[Sequence[StaffSymbol]]) -> dict[int, Fraction]:
    """Staves of a page (indices in reading order) whose time signature the bars it governs
    contradict, with the length those bars share instead: under a quarter of at least four
    governed bars (the staff's own after the signature, then the following staves' until one
    shows a signature) fill it, and over half share another length. A time signature is a few
    small digits, and the model can misread them (3/8 as 9/8); a real change of metre is
    followed by bars of the new length."""
    out: dict[int, Fraction] = {}
    for i, symbols in enumerate(staves):
        shown = metre_length(symbols)
        if shown is None:
            continue
        governed = _bars_after_time(symbols)
        for later in staves[i + 1 :]:
            if metre_length(later) is not None:
                break
            governed += [bar for bar in bar_lengths(later) if bar[0]]
        if len(governed) < 4 or sum(length == shown for length, _ in governed) * 4 >= len(governed):
            continue
        usual = usual_length(governed)
        if usual is not None:
            out[i] = usual
    return out


def _bars_after_time(symbols: Sequence[StaffSymbol]) -> list[tuple[Fraction | None, bool]]:
    """A staff's bars after its last time signature (not the bar it opens: a pick-up may), full-
    measure rests left out."""
    last = max(i for i, s in enumerate(symbols) if isinstance(s, TimeSymbol))
    return [(length, timed) for length, timed in bar_lengths(symbols[last:]) if length and not timed]


def time_tokens_by_length(vocabulary: Sequence[str]) -> dict[Fraction, list[str]]:
    """The vocabulary's time signature tokens by the bar length (quarters) each asks for."""
    out: dict[Fraction, list[str]] = {}
    for token in vocabulary:
        if token.startswith("time:"):
            length = metre_length(tokens_to_symbols([token]))
            if length is not None:
                out.setdefault(length, []).append(token)
    return out
