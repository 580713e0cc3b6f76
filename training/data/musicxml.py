"""Write a training `Piece` as MusicXML that Verovio engraves exactly as labelled.

Everything that shows is explicit: printed accidentals, beams, tuplet brackets, stems of
two-voice staves, barline styles; nothing is left to the engraver's own spelling rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from xml.sax.saxutils import escape

from training.data.score import Event, Measure, Piece, Pitch

ACCIDENTAL_NAMES = {-2: "flat-flat", -1: "flat", 0: "natural", 1: "sharp", 2: "double-sharp"}
BAR_STYLES = {"double": "light-light", "final": "light-heavy", "repeat-end": "light-heavy"}
BEAMABLE = {"eighth", "16th", "32nd", "64th"}


def _divisions(piece: Piece) -> int:
    dens = {1}
    for staff in piece.staves:
        for m in staff:
            for voice in m.voices:
                dens.update(e.duration.denominator for e in voice)
    dens.update(length.denominator for length in piece.length)
    return math.lcm(*dens)


@dataclass(frozen=True)
class BeamStyle:
    """How an edition groups beams, drawn once per piece: engravers differ, and a model that
    only ever saw one tuplet per beam learns to read triplets from the beam instead of the "3"."""

    beats_per_group: int = 1  # 2: eighths in 4/4 beamed four by four
    across_tuplets: bool = False  # tuplets share the beat's beam (six triplet eighths in 2/2)
    tuplet_brackets: bool = True  # bracket as well as the number

    @classmethod
    def draw(cls, rng) -> BeamStyle:
        if rng is None:
            return cls()
        return cls(rng.choice([1, 1, 2]), rng.random() < 0.5, rng.random() < 0.7)


def _beat(length: Fraction, time_den: int | None, style: BeamStyle = BeamStyle()) -> Fraction:
    """Beaming unit: dotted quarter in compound eighth metres, the half in x/2, else the quarter."""
    if time_den == 8 and (length * 2) % 3 == 0:
        return Fraction(3, 2)
    beat = Fraction(2) if time_den == 2 else Fraction(1)
    group = beat * style.beats_per_group
    return group if length % group == 0 else beat


def _beams(voice: list[Event], beat: Fraction, across_tuplets: bool = False) -> dict[int, str]:
    """begin/continue/end for runs of beamable notes inside one beat (or one tuplet)."""
    groups: list[list[int]] = []
    current: list[int] = []
    current_key: object = None
    onset = Fraction(0)
    tuplet_group = 0
    for i, e in enumerate(voice):
        if e.clef is not None:
            continue
        tuplet_group += e.tuplet_start
        key = None
        if not e.grace and not e.is_rest and e.note_type in BEAMABLE:
            key = ("t", tuplet_group) if e.tuplet and not across_tuplets else ("b", onset // beat)
        if key is not None and key == current_key:
            current.append(i)
        else:
            if len(current) > 1:
                groups.append(current)
            current, current_key = ([i], key) if key is not None else ([], None)
        onset += e.duration
    if len(current) > 1:
        groups.append(current)
    out: dict[int, str] = {}
    for g in groups:
        for j, i in enumerate(g):
            out[i] = "begin" if j == 0 else "end" if j == len(g) - 1 else "continue"
    return out


def _clef_xml(clef, number: int) -> str:
    octave = f"<clef-octave-change>{clef.octave_change}</clef-octave-change>" if clef.octave_change else ""
    return f'<clef number="{number}"><sign>{clef.sign}</sign><line>{clef.line}</line>{octave}</clef>'


DYNAMICS = ("p", "pp", "f", "ff", "mf", "mp", "sf", "fp")
ARTICULATIONS = ("staccato", "accent", "tenuto", "staccatissimo")


class Decorations:
    """Unlabelled marks real scores are full of (slurs, articulations, dynamics, ornaments,
    fermatas, fingerings), drawn at random so the model learns to look past them."""

    def __init__(self, rng, amount: float):
        self.rng, self.amount = rng, amount
        self.open_slurs: dict[int, int] = {}

    def chance(self, p: float) -> bool:
        return self.rng is not None and self.rng.random() < p * self.amount

    def notations(self, voice: int, is_last: bool) -> list[str]:
        out = []
        if voice in self.open_slurs:
            self.open_slurs[voice] -= 1
            if self.open_slurs[voice] <= 0 or is_last:
                del self.open_slurs[voice]
                out.append('<slur type="stop" number="1"/>')
        elif not is_last and self.chance(0.12):
            self.open_slurs[voice] = self.rng.randint(1, 6)
            out.append(f'<slur type="start" number="1" placement="{self.rng.choice(["above", "below"])}"/>')
        if self.chance(0.1):
            out.append(f"<articulations><{self.rng.choice(ARTICULATIONS)}/></articulations>")
        if self.chance(0.03):
            out.append("<ornaments><trill-mark/></ornaments>" if self.rng.random() < 0.6 else "<fermata/>")
        if self.chance(0.03):
            out.append(f"<technical><fingering>{self.rng.randint(1, 5)}</fingering></technical>")
        return out

    def direction(self, staff: int) -> str:
        if not self.chance(0.06):
            return ""
        placement = "below" if staff == 1 else "above"
        return (
            f'<direction placement="{placement}"><direction-type><dynamics><{self.rng.choice(DYNAMICS)}/>'
            f"</dynamics></direction-type><staff>{staff}</staff></direction>"
        )


def _note_xml(
    e: Event,
    divisions: int,
    voice: int,
    staff: int,
    stem: str | None,
    beam: str | None,
    deco: Decorations,
    is_last: bool,
    tuplet_bracket: bool = True,
) -> list[str]:
    out = []
    extra = deco.notations(voice, is_last) if e.pitches and not e.grace else []
    duration = int(e.duration * divisions)
    pitches: list[Pitch | None] = list(e.pitches) or [None]
    for k, p in enumerate(pitches):
        parts = []
        if e.grace:
            parts.append('<grace slash="yes"/>' if e.note_type == "eighth" else "<grace/>")
        if k > 0:
            parts.append("<chord/>")
        if p is None:
            parts.append('<rest measure="yes"/>' if e.full_measure else "<rest/>")
        else:
            alter = f"<alter>{p.alter}</alter>" if p.alter else ""
            parts.append(f"<pitch><step>{p.step}</step>{alter}<octave>{p.octave}</octave></pitch>")
        if not e.grace:
            parts.append(f"<duration>{duration}</duration>")
        if p is not None and p.tie_stop:
            parts.append('<tie type="stop"/>')
        if p is not None and p.tie_start:
            parts.append('<tie type="start"/>')
        parts.append(f"<voice>{voice}</voice>")
        if not e.full_measure:
            parts.append(f"<type>{e.note_type}</type>")
            parts += ["<dot/>"] * e.dots
        if p is not None and p.printed is not None:
            parts.append(f"<accidental>{ACCIDENTAL_NAMES[p.printed]}</accidental>")
        if e.tuplet:
            parts.append(
                f"<time-modification><actual-notes>{e.tuplet[0]}</actual-notes>"
                f"<normal-notes>{e.tuplet[1]}</normal-notes></time-modification>"
            )
        if stem and p is not None:
            parts.append(f"<stem>{stem}</stem>")
        parts.append(f"<staff>{staff}</staff>")
        if beam and k == 0:
            parts.append(f'<beam number="1">{beam}</beam>')
        notations = []
        if p is not None and p.tie_stop:
            notations.append('<tied type="stop"/>')
        if p is not None and p.tie_start:
            notations.append('<tied type="start"/>')
        if k == 0 and e.tuplet_start:
            notations.append(f'<tuplet type="start" bracket="{"yes" if tuplet_bracket else "no"}"/>')
        if k == 0 and e.tuplet_stop:
            notations.append('<tuplet type="stop"/>')
        if k == 0:
            notations += extra
        if notations:
            parts.append("<notations>" + "".join(notations) + "</notations>")
        opening = '<note print-object="no">' if e.hidden and p is None else "<note>"
        out.append(opening + "".join(parts) + "</note>")
    return out


def _measure_xml(
    piece: Piece, index: int, divisions: int, time_den: int | None, deco: Decorations, style: BeamStyle
) -> str:
    measures: list[Measure] = [staff[index] for staff in piece.staves]
    first = measures[0]
    length = piece.length[index]
    parts = [f'<measure number="{index + 1}">']
    attrs = []
    if index == 0:
        attrs.append(f"<divisions>{divisions}</divisions>")
    if first.key is not None:
        attrs.append(f"<key><fifths>{first.key}</fifths></key>")
    if first.time is not None:
        t = first.time
        symbol = f' symbol="{t.symbol}"' if t.symbol != "normal" else ""
        attrs.append(
            f"<time{symbol}><beats>{t.numerator}</beats><beat-type>{t.denominator}</beat-type></time>"
        )
    if index == 0 and len(measures) > 1:
        attrs.append(f"<staves>{len(measures)}</staves>")
    attrs += [_clef_xml(m.clef, s) for s, m in enumerate(measures, start=1) if m.clef is not None]
    if attrs:
        parts.append("<attributes>" + "".join(attrs) + "</attributes>")
    if first.left_repeat:
        repeat = '<bar-style>heavy-light</bar-style><repeat direction="forward"/>'
        parts.append(f'<barline location="left">{repeat}</barline>')
    voice_number = 0
    for s, m in enumerate(measures, start=1):
        for v, voice in enumerate(m.voices):
            voice_number += 1
            if voice_number > 1:
                parts.append(f"<backup><duration>{int(length * divisions)}</duration></backup>")
            stem = None if len(m.voices) == 1 else ("up" if v == 0 else "down")
            beams = _beams(voice, _beat(length, time_den, style), style.across_tuplets)
            used = Fraction(0)
            for i, e in enumerate(voice):
                if e.clef is not None:
                    parts.append("<attributes>" + _clef_xml(e.clef, s) + "</attributes>")
                    continue
                parts.append(deco.direction(s))
                is_last = index == len(piece.length) - 1 and i == len(voice) - 1
                parts += _note_xml(
                    e, divisions, voice_number, s, stem, beams.get(i), deco, is_last, style.tuplet_brackets
                )
                used += e.duration
            if used < length:
                parts.append(f"<forward><duration>{int((length - used) * divisions)}</duration></forward>")
    if first.end != "regular":
        repeat = '<repeat direction="backward"/>' if first.end == "repeat-end" else ""
        parts.append(
            f'<barline location="right"><bar-style>{BAR_STYLES[first.end]}</bar-style>{repeat}</barline>'
        )
    parts.append("</measure>")
    return "".join(parts)


def piece_to_musicxml(piece: Piece, title: str = "", rng=None, decorations: float = 1.0) -> str:
    """MusicXML of a piece; with `rng`, unlabelled decorations are drawn at random."""
    divisions = _divisions(piece)
    deco = Decorations(rng, decorations)
    style = BeamStyle.draw(rng)
    time_den = None
    measures = []
    for i in range(len(piece.length)):
        t = piece.staves[0][i].time
        if t is not None:
            time_den = t.denominator
        measures.append(_measure_xml(piece, i, divisions, time_den, deco, style))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<score-partwise version="4.0">'
        f"<work><work-title>{escape(title)}</work-title></work>"
        '<part-list><score-part id="P1"><part-name></part-name></score-part></part-list>'
        '<part id="P1">' + "".join(measures) + "</part></score-partwise>"
    )
