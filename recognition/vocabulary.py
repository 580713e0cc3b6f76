"""The token grammar of the staff recognition model (documented in docs/tokens.md).

One staff image reads as one token sequence, left to right as engraved. Pitches are staff
positions (`pos:0` = bottom line, `pos:8` = top line, one step per line or space), so the
model never needs to know the clef to read a notehead; the clef tokens in the same sequence
turn positions into written pitches when decoding.

    symbol         tokens
    clef           clef:G2 | clef:F4 | clef:C3 | ... | clef:G2-8 (octave down) | clef:G2+8
    key signature  key:-7 .. key:7
    time signature time:3/4 | time:C | time:C/
    barline        bar | bar:double | bar:final | bar:repeat-start | bar:repeat-end
    voice switch   voice:1 .. voice:4   (voice of the events that follow; back to 1 at a barline)
    note           [grace] [acc:#|b|n|x|bb] pos:P dur:TYPE[.|..] [tup:A/N] [tie]
    chord note     chord [acc:..] pos:P [tie]   (shares the rhythm of the note before it)
    rest           rest:TYPE[.|..] [tup:A/N] | rest:measure
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from recognition.symbols import (
    BarlineSymbol,
    ClefSymbol,
    KeySymbol,
    NoteSymbol,
    RestSymbol,
    StaffSymbol,
    TimeSymbol,
)

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)

STEPS = "CDEFGAB"
NOTE_TYPES = ("breve", "whole", "half", "quarter", "eighth", "16th", "32nd", "64th")
MAX_DOTS = 2
POSITION_RANGE = range(-14, 23)  # seven ledger lines below the staff to seven above
CLEFS: dict[str, ClefSymbol] = {
    "clef:G2": ClefSymbol("G", 2),
    "clef:G1": ClefSymbol("G", 1),
    "clef:G2-8": ClefSymbol("G", 2, -1),
    "clef:G2+8": ClefSymbol("G", 2, 1),
    "clef:F4": ClefSymbol("F", 4),
    "clef:F3": ClefSymbol("F", 3),
    "clef:F5": ClefSymbol("F", 5),
    "clef:F4-8": ClefSymbol("F", 4, -1),
    "clef:C1": ClefSymbol("C", 1),
    "clef:C2": ClefSymbol("C", 2),
    "clef:C3": ClefSymbol("C", 3),
    "clef:C4": ClefSymbol("C", 4),
    "clef:C5": ClefSymbol("C", 5),
}
CLEF_TOKENS = {clef: token for token, clef in CLEFS.items()}
KEY_RANGE = range(-7, 8)
TIME_NUMERATORS = range(1, 17)
TIME_DENOMINATORS = (1, 2, 4, 8, 16, 32)
BARLINES = {
    "bar": "regular",
    "bar:double": "double",
    "bar:final": "final",
    "bar:repeat-start": "repeat-start",
    "bar:repeat-end": "repeat-end",
}
BARLINE_TOKENS = {style: token for token, style in BARLINES.items()}
ACCIDENTALS = {"acc:bb": -2, "acc:b": -1, "acc:n": 0, "acc:#": 1, "acc:x": 2}
ACCIDENTAL_TOKENS = {alter: token for token, alter in ACCIDENTALS.items()}
TUPLETS = ((3, 2), (2, 3), (5, 4), (6, 4), (7, 4), (7, 8), (9, 8), (4, 3), (5, 2), (6, 5))
MAX_VOICE = 4
GRACE, CHORD, TIE = "grace", "chord", "tie"
FULL_MEASURE_REST = "rest:measure"


# Engraved music never needs more than ~0.25 tokens per pixel of staff width (measured on the
# rendered data); decoding stops at this budget so a confused model cannot run on for long.
TOKENS_PER_PIXEL_LIMIT = 0.4


def token_budget(width: int) -> int:
    """Most tokens worth decoding for a staff crop `width` pixels wide."""
    return int(width * TOKENS_PER_PIXEL_LIMIT) + 20


class VocabularyError(ValueError):
    """A symbol the grammar cannot express."""


def _rhythm_suffix(note_type: str, dots: int) -> str:
    return note_type + "." * dots


def build_tokens() -> list[str]:
    """Every token, in a fixed order: a token's index is its model id."""
    tokens = list(SPECIAL_TOKENS)
    tokens += list(CLEFS)
    tokens += [f"key:{k}" for k in KEY_RANGE]
    tokens += [f"time:{n}/{d}" for n in TIME_NUMERATORS for d in TIME_DENOMINATORS] + ["time:C", "time:C/"]
    tokens += list(BARLINES)
    tokens += [f"voice:{v}" for v in range(1, MAX_VOICE + 1)]
    tokens += list(ACCIDENTALS)
    tokens += [f"pos:{p}" for p in POSITION_RANGE]
    rhythms = [_rhythm_suffix(t, d) for t in NOTE_TYPES for d in range(MAX_DOTS + 1)]
    tokens += [f"dur:{r}" for r in rhythms]
    tokens += [f"rest:{r}" for r in rhythms] + [FULL_MEASURE_REST]
    tokens += [f"tup:{a}/{n}" for a, n in TUPLETS]
    tokens += [GRACE, CHORD, TIE]
    return tokens


TOKENS: tuple[str, ...] = tuple(build_tokens())
TOKEN_IDS: dict[str, int] = {t: i for i, t in enumerate(TOKENS)}
PAD_ID, BOS_ID, EOS_ID, UNK_ID = (TOKEN_IDS[t] for t in SPECIAL_TOKENS)


def encode(tokens: Sequence[str]) -> list[int]:
    return [TOKEN_IDS.get(t, UNK_ID) for t in tokens]


def decode(ids: Sequence[int]) -> list[str]:
    """Ids to tokens, stopping at end-of-sequence and dropping specials."""
    out: list[str] = []
    for i in ids:
        if i == EOS_ID:
            break
        if i in (PAD_ID, BOS_ID):
            continue
        out.append(TOKENS[i] if 0 <= i < len(TOKENS) else UNK)
    return out


# --- staff positions ---------------------------------------------------------------------------

_CLEF_LINE_PITCH = {"G": ("G", 4), "F": ("F", 3), "C": ("C", 4)}
DEFAULT_CLEF = ClefSymbol("G", 2)


def _diatonic(step: str, octave: int) -> int:
    return octave * 7 + STEPS.index(step)


def bottom_line_diatonic(clef: ClefSymbol) -> int:
    """Diatonic number (octave * 7 + step) of the written pitch on the bottom staff line."""
    step, octave = _CLEF_LINE_PITCH[clef.sign]
    return _diatonic(step, octave + clef.octave_change) - 2 * (clef.line - 1)


def staff_position(step: str, octave: int, clef: ClefSymbol) -> int:
    return _diatonic(step, octave) - bottom_line_diatonic(clef)


def pitch_at(position: int, clef: ClefSymbol) -> tuple[str, int]:
    number = bottom_line_diatonic(clef) + position
    return STEPS[number % 7], number // 7


# --- symbols -> tokens -------------------------------------------------------------------------


def _time_token(sym: TimeSymbol) -> str:
    if sym.symbol == "common" and (sym.numerator, sym.denominator) == (4, 4):
        return "time:C"
    if sym.symbol == "cut" and (sym.numerator, sym.denominator) == (2, 2):
        return "time:C/"
    token = f"time:{sym.numerator}/{sym.denominator}"
    if token not in TOKEN_IDS:
        raise VocabularyError(f"time signature {sym.numerator}/{sym.denominator} is not in the vocabulary")
    return token


def _rhythm_tokens(prefix: str, note_type: str, dots: int, tuplet: tuple[int, int] | None) -> list[str]:
    if note_type not in NOTE_TYPES or not 0 <= dots <= MAX_DOTS:
        raise VocabularyError(f"rhythm {note_type} with {dots} dots is not in the vocabulary")
    out = [f"{prefix}:{_rhythm_suffix(note_type, dots)}"]
    if tuplet is not None:
        if tuple(tuplet) not in TUPLETS:
            raise VocabularyError(f"tuplet {tuplet[0]}:{tuplet[1]} is not in the vocabulary")
        out.append(f"tup:{tuplet[0]}/{tuplet[1]}")
    return out


def _pitch_tokens(note: NoteSymbol, clef: ClefSymbol) -> list[str]:
    out = []
    if note.accidental is not None:
        if note.accidental not in ACCIDENTAL_TOKENS:
            raise VocabularyError(f"accidental {note.accidental} is not in the vocabulary")
        out.append(ACCIDENTAL_TOKENS[note.accidental])
    position = staff_position(note.step, note.octave, clef)
    if position not in POSITION_RANGE:
        raise VocabularyError(f"{note.step}{note.octave} is too far from the staff for clef {clef}")
    out.append(f"pos:{position}")
    return out


def symbols_to_tokens(symbols: Sequence[StaffSymbol], *, clef: ClefSymbol | None = None) -> list[str]:
    """Encode one staff's symbols. `clef` is the clef in force before the first symbol.

    Chord notes (`chord=True`) share the note type, dots, tuplet, grace and voice of the note
    before them; a full-measure rest is written as `rest:measure` whatever its note type.
    """
    current_clef = clef or DEFAULT_CLEF
    voice = 1
    out: list[str] = []
    for sym in symbols:
        if isinstance(sym, ClefSymbol):
            if sym not in CLEF_TOKENS:
                raise VocabularyError(f"clef {sym} is not in the vocabulary")
            out.append(CLEF_TOKENS[sym])
            current_clef = sym
        elif isinstance(sym, KeySymbol):
            if sym.fifths not in KEY_RANGE:
                raise VocabularyError(f"key signature with {sym.fifths} fifths is not in the vocabulary")
            out.append(f"key:{sym.fifths}")
        elif isinstance(sym, TimeSymbol):
            out.append(_time_token(sym))
        elif isinstance(sym, BarlineSymbol):
            out.append(BARLINE_TOKENS[sym.style])
            voice = 1
        elif isinstance(sym, NoteSymbol | RestSymbol):
            if sym.voice != voice and not (isinstance(sym, NoteSymbol) and sym.chord):
                if not 1 <= sym.voice <= MAX_VOICE:
                    raise VocabularyError(f"voice {sym.voice} is not in the vocabulary")
                out.append(f"voice:{sym.voice}")
                voice = sym.voice
            if isinstance(sym, RestSymbol):
                if sym.full_measure:
                    out.append(FULL_MEASURE_REST)
                else:
                    out += _rhythm_tokens("rest", sym.note_type, sym.dots, sym.tuplet)
            elif sym.chord:
                out.append(CHORD)
                out += _pitch_tokens(sym, current_clef)
                if sym.tie_start:
                    out.append(TIE)
            else:
                if sym.grace:
                    out.append(GRACE)
                out += _pitch_tokens(sym, current_clef)
                out += _rhythm_tokens("dur", sym.note_type, sym.dots, sym.tuplet)
                if sym.tie_start:
                    out.append(TIE)
        else:  # pragma: no cover - StaffSymbol is a closed union
            raise VocabularyError(f"unknown symbol {sym!r}")
    return out


# --- tokens -> symbols -------------------------------------------------------------------------


def _parse_rhythm(value: str) -> tuple[str, int]:
    note_type = value.rstrip(".")
    return note_type, len(value) - len(note_type)


def tokens_to_symbols(
    tokens: Sequence[str],
    probs: Sequence[float] | None = None,
    *,
    clef: ClefSymbol | None = None,
    token_x: Sequence[float] | None = None,
) -> list[StaffSymbol]:
    """Decode a (possibly imperfect) model output into staff symbols.

    Decoding is forgiving: a token that does not fit where it stands (a duration with no
    notehead, a tie with no note, an unknown token) is skipped rather than failing the staff,
    because a model can emit such sequences. A symbol's confidence is the lowest probability
    among its tokens, when `probs` (one per token) is given. With `token_x` (the crop column the
    model read each token at), a note takes the column of its `pos:` token, a rest of its `rest:`.
    """
    if probs is not None and len(probs) != len(tokens):
        raise ValueError(f"{len(tokens)} tokens but {len(probs)} probabilities")
    if token_x is not None and len(token_x) != len(tokens):
        raise ValueError(f"{len(tokens)} tokens but {len(token_x)} positions")
    current_clef = clef or DEFAULT_CLEF
    voice = 1
    out: list[StaffSymbol] = []
    # A note being assembled: its pitch tokens arrive before its rhythm.
    pending: dict[str, Any] | None = None
    last_note_index: int | None = None  # index in `out` of the last note, for chord/tie/tuplet
    grace = False
    chord_next = False

    def prob(i: int) -> float:
        return 1.0 if probs is None else float(probs[i])

    def column(i: int) -> float | None:
        return None if token_x is None else float(token_x[i])

    def lower_confidence(index: int, p: float) -> None:
        sym = out[index]
        if isinstance(sym, NoteSymbol | RestSymbol) and p < sym.confidence:
            out[index] = replace(sym, confidence=p)

    for i, token in enumerate(tokens):
        p = prob(i)
        kind, _, value = token.partition(":")
        if token in CLEFS:
            current_clef = CLEFS[token]
            out.append(current_clef)
        elif kind == "key" and token in TOKEN_IDS:
            out.append(KeySymbol(int(value)))
        elif token == "time:C":
            out.append(TimeSymbol(4, 4, "common"))
        elif token == "time:C/":
            out.append(TimeSymbol(2, 2, "cut"))
        elif kind == "time" and token in TOKEN_IDS:
            num, den = value.split("/")
            out.append(TimeSymbol(int(num), int(den)))
        elif token in BARLINES:
            out.append(BarlineSymbol(BARLINES[token]))
            voice = 1
        elif kind == "voice" and token in TOKEN_IDS:
            voice = int(value)
        elif token == GRACE:
            grace = True
        elif token == CHORD:
            chord_next = True
        elif token in ACCIDENTALS:
            pending = {"accidental": ACCIDENTALS[token], "p": p}
        elif kind == "pos" and token in TOKEN_IDS:
            step, octave = pitch_at(int(value), current_clef)
            accidental = pending["accidental"] if pending else None
            conf = min(p, pending["p"]) if pending else p
            pending = None
            head = out[last_note_index] if last_note_index is not None else None
            if chord_next and isinstance(head, NoteSymbol):
                out.append(
                    replace(
                        head,
                        step=step,
                        octave=octave,
                        accidental=accidental,
                        chord=True,
                        tie_start=False,
                        confidence=conf,
                        x=column(i),
                        staff_position=int(value),
                    )
                )
                last_note_index = len(out) - 1
                chord_next = False
            else:
                pending = {"step": step, "octave": octave, "accidental": accidental, "p": conf}
                pending.update(x=column(i), staff_position=int(value))
                chord_next = False
        elif kind == "dur" and token in TOKEN_IDS:
            if pending is None or "step" not in pending:
                continue  # a rhythm with no notehead
            note_type, dots = _parse_rhythm(value)
            out.append(
                NoteSymbol(
                    step=pending["step"],
                    octave=pending["octave"],
                    accidental=pending["accidental"],
                    note_type=note_type,
                    dots=dots,
                    grace=grace,
                    voice=voice,
                    confidence=min(p, pending["p"]),
                    x=pending["x"],
                    staff_position=pending["staff_position"],
                )
            )
            last_note_index = len(out) - 1
            pending, grace = None, False
        elif token == FULL_MEASURE_REST:
            out.append(RestSymbol("whole", voice=voice, full_measure=True, confidence=p, x=column(i)))
            last_note_index = None
        elif kind == "rest" and token in TOKEN_IDS:
            note_type, dots = _parse_rhythm(value)
            out.append(RestSymbol(note_type, dots, voice=voice, confidence=p, x=column(i)))
            last_note_index = len(out) - 1
        elif kind == "tup" and token in TOKEN_IDS and last_note_index is not None:
            actual, normal = (int(x) for x in value.split("/"))
            target = out[last_note_index]
            if isinstance(target, NoteSymbol | RestSymbol):
                out[last_note_index] = replace(target, tuplet=(actual, normal))
            lower_confidence(last_note_index, p)
        elif token == TIE and last_note_index is not None:
            note = out[last_note_index]
            if isinstance(note, NoteSymbol):
                out[last_note_index] = replace(note, tie_start=True)
                lower_confidence(last_note_index, p)
        # anything else (specials, unknown or misplaced tokens) is skipped
    return out
