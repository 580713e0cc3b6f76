"""Re-read, one at a time, the bars of a staff that do not fill the metre.

Greedy decoding commits to each token in turn. When a bar it read does not add up, the model
usually did consider the right rhythm (a tuplet mark, a beam count, a dot) and ranked it a little
lower. Each such bar is decoded again from the greedy reading up to it (its key/value cache is
reused), by a beam search that drops readings which overflow the bar and keeps those closing it
at exactly the expected length without losing a notehead or tuplet mark the greedy bar had; the
most probable of them replaces the greedy bar when it costs at most `MAX_FIX_COST` in
log-probability, and greedy decoding resumes after it. Bars after a fix are checked again, as
read after the fix. The search starts at the first token of the bar the model hesitated over.

The bar length a staff should have comes from its page (`meter.page_bar_lengths`), so staves
without a time signature of their own are checked too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from recognition.implied_tuplets import implied_triplet_bars
from recognition.meter import bar_lengths
from recognition.symbols import NoteSymbol, RestSymbol
from recognition.vocabulary import ACCIDENTALS, BARLINES, GRACE, tokens_to_symbols

# A fitting bar may be this much less probable (log) than the greedy one it replaces: e^6 ≈ 400×.
# The greedy bar is wrong (it does not add up); the bound keeps readings the model finds absurd.
MAX_FIX_COST = 6.0
CERTAIN = 1 - math.exp(-MAX_FIX_COST)
# A bar read with implied triplets may cost this much (log) more than the greedy one per
# tuplet mark it adds: an unprinted "3" is unlikely by itself, but the metre vouches for it.
MAX_IMPLIED_COST = 2.0
# Beams of the bar search. Measured on the dev set with 0.3.0: 2 beams find too few fixes
# (mono-digital note F1 0.858), 4 nearly all that 8 find (0.917 and 0.917) at half the cost.
DEFAULT_REREAD_BEAMS = 4
# Bar searches per staff at most, so a staff read in the wrong metre costs a bounded time, and
# per page (shared by its staves, fewest misfit bars first): a badly printed scan has misfit bars
# on nearly every staff, and searching them all would double the time a page takes. Measured on
# the scan tiers (0.5.0, session 7): 0.5 searches per staff left most misfit bars unsearched
# (piano-scan 0.8414, beethoven-scan 0.7887); 1.0 gives 0.8672 / 0.8037 and 2.0 0.8722 / 0.8075,
# at 0.82-0.92 and 0.87-1.03 s per 10 staves on the benchmark scan (target 1.0; 0.5: 0.77-0.93).
# With 0.6.0 (session 11) 1.0 read 0.8776 / 0.8707, 2.0 0.8852 / 0.8788 and 3.0 0.8853 / 0.8785:
# two searches per staff, about 4% more time per page on the benchmark scan. A page of few staves
# (an excerpt, a last page) costs little whatever is searched, so it gets at least 12: with 8, a
# three-staff excerpt whose staves all misfit left its third staff two searches, too few to reach
# the bar whose implied triplets set the rest of it right (mono-digital 654 notes of 695; 12 and
# 16: 663; session 13, with the spacing timing).
MAX_BARS_PER_STAFF = 6
PAGE_SEARCHES_PER_STAFF = 2.0
MIN_PAGE_SEARCHES = 12

# (token (N, 1), position, past_k, past_v, cross_k, cross_v, cross_bias)
#   -> (logits, past_k, past_v, token_x): token_x (N,) is each row's crop column (NaN: unknown)
DecoderStep = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
Cross = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Bar:
    start: int  # index of the bar's first token
    end: int  # index of the barline that closes it


def _bar_length(tokens: Sequence[str]) -> Fraction | None:
    """Length of the bar made of `tokens` (no barline among them), as if closed now."""
    length, _ = bar_lengths(tokens_to_symbols([*tokens, "bar"]))[-1]
    return length


def misfit_bar_spans(tokens: Sequence[str], expected: Fraction) -> list[Bar]:
    """Bars closed by a barline whose length is not `expected` (bars opening with a time
    signature may be pick-ups and are left alone)."""
    bars: list[Bar] = []
    start = 0
    for i, token in enumerate(tokens):
        if token not in BARLINES:
            continue
        body = tokens[start:i]
        timed = any(t.startswith("time:") for t in body)
        length = _bar_length(body)
        if not timed and length is not None and length != expected:
            bars.append(Bar(start, i))
        start = i + 1
    return bars


def _marks(tokens: Sequence[str]) -> tuple[int, int]:
    """Noteheads (grace notes aside) and tuplet-marked notes and rests of a bar. The model rarely
    reads a notehead or a tuplet number that is not printed; it misses them more often. So a
    re-read bar may add such marks, never drop them (dropping them fits a bar too easily: eight
    triplet eighths read as plain eighths also fill 2/2)."""
    symbols = tokens_to_symbols(tokens)
    notes = sum(1 for s in symbols if isinstance(s, NoteSymbol) and not s.grace)
    tuplets = sum(1 for s in symbols if isinstance(s, NoteSymbol | RestSymbol) and s.tuplet is not None)
    return notes, tuplets


def _starts_event(token: str) -> bool:
    """The previous note or rest is complete (its tuplet mark, if any, came before this)."""
    return token.startswith(("pos:", "rest:")) or token in ACCIDENTALS or token == GRACE or token in BARLINES


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)))


@dataclass
class _Cache:
    past_k: np.ndarray  # (layers, N, heads, T, head_dim)
    past_v: np.ndarray

    def first(self, length: int) -> _Cache:
        return _Cache(self.past_k[:, :, :, :length], self.past_v[:, :, :, :length])


@dataclass(frozen=True)
class BarReading:
    """A bar read again: its tokens from `start` through its barline, their probabilities and
    crop columns, its log-probability from `start`, and the cache holding every token but the
    barline."""

    start: int
    ids: list[int]
    probs: list[float]
    xs: list[float]
    score: float
    cache: _Cache


@dataclass
class StaffRereader:
    """The decoder of one staff (batch of one) and what re-reading it needs."""

    step: DecoderStep
    cross: Cross
    vocabulary: Sequence[str]
    bos: int
    eos: int
    budget: int  # most tokens the staff may have
    beams: int
    max_searches: int = MAX_BARS_PER_STAFF
    _tiles: dict[int, Cross] = field(default_factory=dict)

    def _tiled(self, n: int) -> Cross:
        """The staff's encoder output repeated for `n` beams (made once per beam count)."""
        if n not in self._tiles:
            rows = np.zeros(n, np.int64)
            k, v, bias = self.cross
            self._tiles[n] = (k[:, rows], v[:, rows], bias[rows])
        return self._tiles[n]

    def teacher_force(self, ids: Sequence[int], cache: _Cache) -> _Cache:
        """The cache after feeding <bos> and every token of `ids` but the last, from empty `cache`."""
        for position, token in enumerate([self.bos, *ids[:-1]]):
            _, k, v, _ = self.step(
                np.array([[token]], np.int64), position, cache.past_k, cache.past_v, *self.cross
            )
            cache = _Cache(k, v)
        return cache

    def next_token(self, ids: list[int], cache: _Cache) -> tuple[int, float, float, _Cache]:
        """Greedy decoding's next token after `ids` (`cache` holds all of them but the last), its
        probability and column, and the cache then holding all of `ids`."""
        last = np.array([[ids[-1] if ids else self.bos]], np.int64)
        logits, k, v, token_x = self.step(last, len(ids), cache.past_k, cache.past_v, *self.cross)
        p = np.exp(_log_softmax(logits[0].astype(np.float64)))
        best = int(p.argmax())
        return best, float(p[best]), float(token_x[0]), _Cache(k, v)

    def fitting_bar(
        self,
        prefix: list[int],
        cache: _Cache,
        expected: Fraction,
        max_tokens: int,
        keeps: Callable[[list[str]], bool],
        floor: float,
        head: Sequence[str] = (),
    ) -> BarReading | None:
        """The most probable bar after `prefix` (whose cache, all but its last token, is given)
        that closes at exactly `expected` quarters and `keeps` what must stay. Readings less
        probable than `floor` (log) are not pursued. `head`: the bar's tokens before the search
        starts (the end of `prefix`), kept as read."""
        vocab, k = self.vocabulary, self.beams
        live: list[tuple[list[int], list[float], list[float], float]] = [([], [], [], 0.0)]
        last = np.array([prefix[-1] if prefix else self.bos], np.int64)
        best: BarReading | None = None
        for offset in range(max_tokens):
            position = len(prefix) + offset
            if position >= self.budget:
                break
            tiled = self._tiled(len(live))
            logits, past_k, past_v, token_x = self.step(
                last[:, None], position, cache.past_k, cache.past_v, *tiled
            )
            log_p = _log_softmax(logits.astype(np.float64))
            candidates = []
            for beam, (_, _, _, score) in enumerate(live):
                for token in np.argsort(-log_p[beam])[: 2 * k]:
                    candidates.append((score + float(log_p[beam, token]), beam, int(token)))
            candidates.sort(key=lambda c: -c[0])
            kept: list[tuple[list[int], list[float], list[float], float]] = []
            sources: list[int] = []
            for total, beam, token in candidates:
                if len(kept) == k or total < floor or (best is not None and total <= best.score):
                    break
                ids, probs, xs, before = live[beam]
                p, x = float(np.exp(total - before)), float(token_x[beam])
                word = vocab[token] if token < len(vocab) else ""
                if token == self.eos:
                    continue
                if _starts_event(word):
                    bar = [*head, *(vocab[t] for t in ids)]
                    length = _bar_length(bar)
                    if length is not None and length > expected:
                        continue  # overflowing bars never come back
                    if word in BARLINES:
                        if length == expected and keeps(bar):
                            one = np.array([beam])
                            best = BarReading(
                                len(prefix),
                                [*ids, token],
                                [*probs, p],
                                [*xs, x],
                                total,
                                _Cache(past_k[:, one], past_v[:, one]),
                            )
                        continue
                kept.append(([*ids, token], [*probs, p], [*xs, x], total))
                sources.append(beam)
            if not kept:
                break
            order = np.array(sources, np.int64)
            cache = _Cache(past_k[:, order], past_v[:, order])
            live = kept
            last = np.array([ids[-1] for ids, _, _, _ in kept], np.int64)
        return best

    def fix(
        self, bar: Bar, ids: list[int], probs: list[float], cache: _Cache, expected: Fraction
    ) -> BarReading | None:
        """A reading of `bar` of `ids` (closed by its barline) that fills `expected`, keeps its
        noteheads and tuplet marks and costs at most MAX_FIX_COST more than it; None if none.
        The search starts at the first token the model hesitated over: an alternative to a token
        read with probability above CERTAIN costs more than MAX_FIX_COST by itself."""
        vocab = self.vocabulary
        start = next((i for i in range(bar.start, bar.end + 1) if probs[i] < CERTAIN), None)
        if start is None:
            return None
        read = _marks([vocab[i] for i in ids[bar.start : bar.end]])

        def keeps(candidate: list[str]) -> bool:
            return all(new >= old for new, old in zip(_marks(candidate), read, strict=True))

        greedy_cost = -float(np.sum(np.log(np.maximum(probs[start : bar.end + 1], 1e-12))))
        limit = 3 * (bar.end - start) + 8
        head = [vocab[i] for i in ids[bar.start : start]]
        floor = -greedy_cost - MAX_FIX_COST
        found = self.fitting_bar(ids[:start], cache.first(start), expected, limit, keeps, floor, head)
        return found if found is not None else self.implied(bar, ids, probs, cache, expected)

    def implied(
        self, bar: Bar, ids: list[int], probs: list[float], cache: _Cache, expected: Fraction
    ) -> BarReading | None:
        """The most probable reading of `bar` that fills `expected` by taking runs of equal notes
        as triplets whose number is not printed (recognition/implied_tuplets.py), when it costs
        at most MAX_IMPLIED_COST per added mark more than the greedy bar; None if none."""
        vocab = self.vocabulary
        body = [vocab[i] for i in ids[bar.start : bar.end]]
        index = {token: i for i, token in enumerate(vocab)}
        candidates = [
            [index[t] for t in [*c, vocab[ids[bar.end]]]]
            for c in implied_triplet_bars(body, expected)
            if all(t in index for t in c)
        ]
        if not candidates:
            return None
        scored = self.score_bars(ids[: bar.start], cache.first(bar.start), candidates)
        greedy = float(np.sum(np.log(np.maximum(probs[bar.start : bar.end + 1], 1e-12))))
        best = max(scored, key=lambda reading: reading.score)
        added = len(best.ids) - (bar.end + 1 - bar.start)
        return best if best.score >= greedy - MAX_IMPLIED_COST * added else None

    def alternatives(
        self, ids: list[int], at: int, past_k: np.ndarray, past_v: np.ndarray, candidates: Sequence[int]
    ) -> list[tuple[int, float]]:
        """Each of `candidates` in place of token `at` of `ids`, with its log-probability there;
        `past_k`/`past_v`: the cache greedy decoding left over <bos> and at least `ids[:at]`."""
        cache = _Cache(past_k, past_v).first(at)
        read = self.score_bars(ids[:at], cache, [[c] for c in candidates])
        return [(c, r.score) for c, r in zip(candidates, read, strict=True)]

    def score_bars(self, prefix: list[int], cache: _Cache, bars: Sequence[list[int]]) -> list[BarReading]:
        """Each of `bars` (token ids through a barline) read after `prefix`, whose cache (all but
        its last token) is given, with its log-probability, token probabilities and columns:
        teacher-forced as one batch (rows shorter than the longest are padded at the end, which
        a causal decoder never looks back at)."""
        n, longest = len(bars), max(len(b) for b in bars)
        rows = np.zeros(n, np.int64)
        past_k, past_v = cache.past_k[:, rows], cache.past_v[:, rows]
        last = prefix[-1] if prefix else self.bos
        fed = np.array([[last, *b[:-1]] + [self.eos] * (longest - len(b)) for b in bars])
        log_ps = np.zeros((n, longest))
        xs = np.zeros((n, longest))
        for t in range(longest):
            logits, past_k, past_v, token_x = self.step(
                fed[:, t : t + 1], len(prefix) + t, past_k, past_v, *self._tiled(n)
            )
            log_p = _log_softmax(logits.astype(np.float64))
            for r, b in enumerate(bars):
                if t < len(b):
                    log_ps[r, t], xs[r, t] = log_p[r, b[t]], token_x[r]
        out = []
        for r, b in enumerate(bars):
            keep = len(prefix) + len(b)  # <bos>, the prefix and every token of the bar but its barline
            one = np.array([r])
            out.append(
                BarReading(
                    len(prefix),
                    list(b),
                    [float(np.exp(v)) for v in log_ps[r, : len(b)]],
                    [float(v) for v in xs[r, : len(b)]],
                    float(log_ps[r, : len(b)].sum()),
                    _Cache(past_k[:, one, :, :keep], past_v[:, one, :, :keep]),
                )
            )
        return out

    def reread(
        self,
        ids: list[int],
        probs: list[float],
        xs: list[float],
        expected: Fraction,
        past_k: np.ndarray,
        past_v: np.ndarray,
    ) -> tuple[list[int], list[float], list[float], int, int]:
        """`ids` (with their probabilities and columns `xs`) with its misfit bars re-read; also
        how many bars were replaced and how many searched (at most `max_searches`). `past_k`/`past_v`:
        the key/value cache (layers, 1, heads, T, head_dim) greedy decoding left, over <bos> and
        `ids`; with T = 0, the cache is rebuilt by feeding `ids` again.

        Until a bar is replaced, the greedy reading's own misfit bars are searched in turn. After
        one is, the rest of the staff is read again greedily (it was read after the old bar), and
        each bar it closes that does not fit is searched as it comes."""
        vocab = self.vocabulary
        limit = min(self.max_searches, MAX_BARS_PER_STAFF)
        bars = misfit_bar_spans([vocab[i] for i in ids], expected)[:limit]
        if not bars:
            return ids, probs, xs, 0, 0
        cache = _Cache(past_k, past_v)
        if past_k.shape[3] < len(ids):
            cache = self.teacher_force(ids, _Cache(past_k[:, :, :, :0], past_v[:, :, :, :0]))
        searches = 0
        for bar in bars:
            searches += 1
            found = self.fix(bar, ids, probs, cache, expected)
            if found is not None:
                ids, probs, xs, cache = _spliced(ids, probs, xs, found)
                break
        else:
            return ids, probs, xs, 0, searches
        fixed = 1
        bar_start = len(ids)
        while len(ids) < self.budget:
            token, p, x, cache = self.next_token(ids, cache)
            if token == self.eos:
                break
            ids, probs, xs = [*ids, token], [*probs, p], [*xs, x]
            if vocab[token] not in BARLINES:
                continue
            bar = Bar(bar_start, len(ids) - 1)
            bar_start = len(ids)
            if searches >= limit or not misfit_bar_spans(_bar_tokens(vocab, ids, bar), expected):
                continue
            searches += 1
            found = self.fix(bar, ids, probs, cache, expected)
            if found is not None:
                ids, probs, xs, cache = _spliced(ids, probs, xs, found)
                bar_start = len(ids)
                fixed += 1
        return ids, probs, xs, fixed, searches


def _bar_tokens(vocabulary: Sequence[str], ids: list[int], bar: Bar) -> list[str]:
    """The tokens of `bar` through its barline."""
    return [vocabulary[i] for i in ids[bar.start : bar.end + 1]]


def _spliced(
    ids: list[int], probs: list[float], xs: list[float], bar: BarReading
) -> tuple[list[int], list[float], list[float], _Cache]:
    """`ids` read up to `bar`, then `bar` (what followed it is read again)."""
    return ids[: bar.start] + bar.ids, probs[: bar.start] + bar.probs, xs[: bar.start] + bar.xs, bar.cache
