"""Real music as training pieces: Mozart kern (training movements only) and the corpus that
ships with music21, cut into snippets of a few measures, one system each."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import music21 as m21

from ir.build import TYPE_QUARTERS
from recognition.symbols import ClefSymbol, TimeSymbol
from recognition.vocabulary import CLEF_TOKENS, POSITION_RANGE, TUPLETS, staff_position
from training.data.score import Event, Measure, Piece, Pitch, spell_accidentals

MUSIC21_COMPOSERS = (
    "bach",
    "beethoven",
    "mozart",
    "haydn",
    "schumann_robert",
    "schumann_clara",
    "chopin",
    "joplin",
    "schubert",
    "handel",
    "corelli",
    "cpebach",
    "weber",
    "verdi",
    "essenFolksong",
)


class Unsupported(ValueError):
    """Notation the token grammar (or this reader) does not cover; the snippet is skipped."""


def _clef(c: m21.clef.Clef) -> ClefSymbol:
    sym = ClefSymbol(str(c.sign), int(c.line or 2), int(c.octaveChange or 0))
    if sym not in CLEF_TOKENS:
        raise Unsupported(f"clef {sym}")
    return sym


def _time(ts: m21.meter.TimeSignature) -> TimeSymbol:
    symbol = ts.symbol if ts.symbol in ("common", "cut") else "normal"
    return TimeSymbol(int(ts.numerator), int(ts.denominator), symbol)


def _event(n: m21.note.GeneralNote) -> Event:
    d = n.duration
    if d.type not in TYPE_QUARTERS or d.dots > 2:
        raise Unsupported(f"duration {d.type}")
    tuplet = None
    start = stop = False
    if d.tuplets:
        if len(d.tuplets) > 1:
            raise Unsupported("nested tuplets")
        t = d.tuplets[0]
        tuplet = (int(t.numberNotesActual), int(t.numberNotesNormal))
        if tuplet not in TUPLETS:
            raise Unsupported(f"tuplet {tuplet}")
        start, stop = t.type == "start", t.type == "stop"
    pitches = []
    if not n.isRest:
        notes: list[m21.note.Note] = list(n.notes) if isinstance(n, m21.chord.Chord) else [n]  # type: ignore[list-item]
        for x in sorted(notes, key=lambda x: x.pitch.diatonicNoteNum):
            p = x.pitch
            if p.octave is None:
                raise Unsupported("pitch without octave")
            alter = int(p.accidental.alter) if p.accidental is not None else 0
            if alter != (p.accidental.alter if p.accidental is not None else 0):
                raise Unsupported("microtone")
            tie = x.tie if x.tie is not None else n.tie
            tie_type = tie.type if tie is not None else None
            pitches.append(
                Pitch(
                    p.step,
                    int(p.octave or 4),
                    alter,
                    tie_type in ("start", "continue"),
                    tie_type in ("stop", "continue"),
                )
            )
    return Event(d.type, int(d.dots), pitches, tuplet, start, stop, bool(d.isGrace))


def _voice_events(container) -> list[Event]:
    events = []
    for el in container.getElementsByClass((m21.note.GeneralNote, m21.clef.Clef)):
        if isinstance(el, m21.clef.Clef):
            if el.offset > 0:
                events.append(Event(clef=_clef(el)))
        elif isinstance(el, m21.note.Unpitched):
            raise Unsupported("unpitched")
        elif isinstance(el, m21.note.GeneralNote):
            events.append(_event(el))
    return events


def part_measures(part: m21.stream.Part) -> list[tuple[Measure, Fraction]]:
    """Each measure of a part with its printed length; measures that cannot be read are None'd out."""
    out = []
    for m in part.getElementsByClass(m21.stream.Measure):
        clef = next(iter(m.getElementsByClass(m21.clef.Clef).getElementsByOffset(0)), None)
        key = m.keySignature
        time = m.timeSignature
        voices_src = list(m.voices) or [m]
        try:
            voices = [_voice_events(v) for v in voices_src]
            voices = [v for v in voices if any(e.clef is None for e in v)] or [[]]
            if len(voices) > 2:
                raise Unsupported("more than two voices")
            if len(voices) == 2 and any(e.clef is not None for v in voices for e in v):
                raise Unsupported("clef change inside a two-voice measure")
            length = Fraction(m.barDuration.quarterLength if m.paddingLeft == 0 else m.duration.quarterLength)
            for v in voices:
                rests = [e for e in v if e.clef is None]
                if len(rests) == 1 and rests[0].is_rest and rests[0].duration == length:
                    rests[0].full_measure = True
            measure = Measure(
                voices,
                clef=_clef(clef) if clef is not None else None,
                key=int(key.sharps) if key is not None else None,
                time=_time(time) if time is not None else None,
            )
            out.append((measure, length))
        except (Unsupported, m21.Music21Exception, ZeroDivisionError, AttributeError, TypeError):
            out.append((None, Fraction(0)))  # type: ignore[arg-type]
    return out


def _states(measures: list[tuple[Measure, Fraction]]):
    """Clef, key and time in force at the start of each measure."""
    clef, key, time = ClefSymbol("G", 2), 0, None
    out = []
    for m, _ in measures:
        if m is not None:
            clef = m.clef or clef
            key = m.key if m.key is not None else key
            time = m.time or time
        out.append((clef, key, time))
        if m is not None:
            for v in m.voices:
                for e in v:
                    if e.clef is not None:
                        clef = e.clef
    return out


def _fits(measure: Measure, clef: ClefSymbol) -> bool:
    current = clef
    for v in measure.voices:
        for e in v:
            if e.clef is not None:
                current = e.clef
            for p in e.pitches:
                if staff_position(p.step, p.octave, current) not in POSITION_RANGE:
                    return False
    return True


def snippets(parts: list[list[tuple[Measure, Fraction]]], rng: random.Random) -> list[Piece]:
    """Cut aligned parts (staves of one system) into pieces of 2-6 measures."""
    count = min(len(p) for p in parts)
    states = [_states(p) for p in parts]
    out = []
    start = 0
    while start < count:
        size = rng.randint(2, 6)
        idx = list(range(start, min(count, start + size)))
        start += size
        if any(parts[s][i][0] is None for s in range(len(parts)) for i in idx):
            continue
        staves = []
        ok = True
        for s, part in enumerate(parts):
            measures = []
            for j, i in enumerate(idx):
                src, _ = part[i]
                clef, key, time = states[s][i]
                if not _fits(src, clef):
                    ok = False
                m = Measure([[_copy(e) for e in v] for v in src.voices], src.clef, src.key, src.time)
                if j == 0:
                    m.clef, m.key = clef, key
                    m.time = time if (i == 0 or rng.random() < 0.3) else None
                measures.append(m)
            staves.append(measures)
        if not ok:
            continue
        barline = "final" if idx[-1] == count - 1 else "regular"
        for st in staves:
            st[-1].end = barline
        piece = Piece(staves, [parts[0][i][1] for i in idx])
        spell_accidentals(piece, courtesy=0.02, rng=rng)
        out.append(piece)
    return out


def _copy(e: Event) -> Event:
    return Event(
        e.note_type,
        e.dots,
        [Pitch(p.step, p.octave, p.alter, p.tie_start, p.tie_stop) for p in e.pitches],
        e.tuplet,
        e.tuplet_start,
        e.tuplet_stop,
        e.grace,
        e.full_measure,
        e.clef,
    )


def score_pieces(score: m21.stream.Score, rng: random.Random, grand: bool) -> list[Piece]:
    parts = [part_measures(p) for p in score.parts]
    if grand and len(parts) == 2:
        return snippets(parts, rng)
    return [piece for p in parts for piece in snippets([p], rng)]


def music21_sources() -> list[Path]:
    paths: list[Path] = []
    for composer in MUSIC21_COMPOSERS:
        paths += [Path(p) for p in m21.corpus.getComposer(composer)]
    return sorted(paths)


def load_score(path: Path) -> m21.stream.Score:
    score = m21.converter.parse(str(path))
    if isinstance(score, m21.stream.Opus):
        score = score.scores[0]
    if not isinstance(score, m21.stream.Score):
        raise Unsupported(f"{path} is not a score")
    return score
