"""Export never fails a document: any valid Score assembled from page fragments, however badly
read (odd durations, overfull, short and empty measures, odd time signatures, tuplets that do not
close, ties to nowhere, stray dots, grace notes and chords anywhere), exports to MusicXML that
parses, to an .mxl that holds it, and to a MIDI file that mido reads, whatever its file and
part names hold.

Run more examples with ETUDE_EXPORT_EXAMPLES=500 (the default is kept short for 2-core runners).
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from xml.etree import ElementTree

import mido
from etude.ir.v1 import events_pb2, score_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ir.assemble import assemble_score
from ir.build import NOTE_TYPES, rational
from ir.export import export_score
from ir.validate import validate_score
from tests.ir.factories import IrBuilder

# Short by default for 2-core CI runners; ETUDE_EXPORT_EXAMPLES=500 for a long run (about 4 min).
EXAMPLES = int(os.environ.get("ETUDE_EXPORT_EXAMPLES", "25"))

TYPES = list(NOTE_TYPES)
PITCHES = ["C2", "G2", "D3", "A3", "E4", "B4", "F#5", "Bb5", "C#6", "Ebb4", "F##3"]
# Time signatures a misread can produce: usual, odd, and with a denominator no note value has.
TIMES = [(4, 4), (3, 4), (2, 2), (6, 8), (5, 4), (7, 8), (17, 16), (1, 64), (3, 7), (11, 3)]
# Lengths no single note value (or tied pair of them) spells.
ODD = st.fractions(min_value=Fraction(1, 97), max_value=Fraction(23, 2), max_denominator=97).filter(
    lambda f: f > 0
)


@dataclass(frozen=True)
class EventSpec:
    kind: str  # "note", "rest", "chord"
    at: Fraction  # as a fraction of the measure's length, in [0, 1)
    type: str
    dots: int
    tuplet: tuple[int, int] | None
    staff: int
    voice: int
    pitches: tuple[str, ...]
    tie_start: bool
    tie_stop: bool
    grace: bool
    odd_length: Fraction | None  # replaces the notated length (what a misread bar gives)


@dataclass(frozen=True)
class MeasureSpec:
    time: tuple[int, int]
    stretch: Fraction  # measure length over the time signature's: <1 short, >1 overfull
    events: tuple[EventSpec, ...]


events = st.builds(
    EventSpec,
    kind=st.sampled_from(["note", "note", "rest", "chord"]),
    at=st.fractions(min_value=0, max_value=Fraction(15, 16), max_denominator=24),
    type=st.sampled_from(TYPES),
    dots=st.integers(0, 4),
    tuplet=st.none() | st.tuples(st.integers(1, 13), st.integers(1, 13)),
    staff=st.integers(1, 2),
    voice=st.integers(1, 4),
    pitches=st.lists(st.sampled_from(PITCHES), min_size=1, max_size=4, unique=True).map(tuple),
    tie_start=st.booleans(),
    tie_stop=st.booleans(),
    grace=st.booleans() | st.just(False),
    odd_length=st.none() | ODD,
)
measures = st.builds(
    MeasureSpec,
    time=st.sampled_from(TIMES),
    stretch=st.sampled_from([Fraction(1), Fraction(1), Fraction(1, 2), Fraction(3, 2), Fraction(7, 5)])
    | st.fractions(min_value=Fraction(1, 16), max_value=4, max_denominator=16).filter(lambda f: f > 0),
    events=st.lists(events, max_size=8).map(tuple),  # 0 events: an empty measure
)
pages = st.lists(st.lists(measures, min_size=1, max_size=4), min_size=1, max_size=3)


def _fragment(page_index: int, specs: list[MeasureSpec]) -> score_pb2.PageFragment:
    b = IrBuilder(page_index=page_index)
    for spec in specs:
        b.time = spec.time
        full = Fraction(4 * spec.time[0], spec.time[1])
        length = full * spec.stretch
        b.measure(duration=length)
        for event in spec.events:
            at = event.at * length
            made: list[events_pb2.NoteEvent | events_pb2.RestEvent]
            if event.kind == "rest":
                rest = b.rest(
                    at=at,
                    type=event.type,
                    dots=event.dots,
                    tuplet=event.tuplet,
                    staff=event.staff,
                    voice=event.voice,
                )
                made = [rest]
            else:
                common = {
                    "dots": event.dots,
                    "tuplet": event.tuplet,
                    "staff": event.staff,
                    "voice": event.voice,
                    "tie_start": event.tie_start,
                    "tie_stop": event.tie_stop,
                    "grace": event.grace,
                }
                if event.kind == "chord":
                    made = list(b.chord(list(event.pitches), at, event.type, **common))  # type: ignore[arg-type]
                else:
                    made = [b.note(event.pitches[0], at, event.type, **common)]  # type: ignore[arg-type]
            if event.odd_length is not None and not event.grace:
                for element in made:
                    element.duration_beats.CopyFrom(rational(event.odd_length))
    return b.fragment()  # times in seconds are filled here, after the lengths were changed


def _score(layout: list[list[MeasureSpec]]) -> score_pb2.Score:
    fragments = [_fragment(i, specs) for i, specs in enumerate(layout)]
    score = assemble_score(
        fragments,
        source=score_pb2.Source(pdf_sha256="0" * 64, file_name="misread.pdf", page_count=len(fragments)),
        provenance=score_pb2.Provenance(producer="etude-omr"),
    )
    assert validate_score(score) == []
    return score


def assert_exports(score: score_pb2.Score) -> None:
    xml, _ = export_score(score, "musicxml")
    root = ElementTree.fromstring(xml)
    assert root.tag == "score-partwise"
    assert len(root.findall("part")) == len(score.parts)  # a grand staff is one part of two staves
    assert all(len(part.findall("measure")) == len(score.measures) for part in root.findall("part"))

    mxl, _ = export_score(score, "mxl")
    archive = zipfile.ZipFile(io.BytesIO(mxl))
    assert archive.testzip() is None and archive.read("score.musicxml") == xml

    midi = mido.MidiFile(file=io.BytesIO(export_score(score, "midi")[0]))
    assert len(midi.tracks) == 1 + sum(len(part.staves) for part in score.parts)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages, st.text(max_size=16), st.text(max_size=16))
def test_every_valid_score_exports_to_musicxml_mxl_and_midi(
    layout: list[list[MeasureSpec]], file_name: str, part_name: str
) -> None:
    score = _score(layout)
    score.source.file_name = file_name  # any text a client sends: controls, other scripts, emoji
    score.parts[0].name = part_name
    assert_exports(score)
