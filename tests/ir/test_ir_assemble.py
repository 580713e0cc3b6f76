"""ir.assemble stitches page fragments into one continuous, valid Score."""

from __future__ import annotations

from fractions import Fraction

import pytest
from etude.ir.v1 import notation_pb2, score_pb2
from etude.omr.v1 import omr_service_pb2 as omr_pb2

from ir.assemble import assemble_score, score_from_document
from ir.build import fraction
from ir.validate import InvalidScoreError, validate_score
from tests.ir.factories import IrBuilder

SOURCE = score_pb2.Source(pdf_sha256="ab" * 32, file_name="three-pages.pdf", page_count=3)
PROVENANCE = score_pb2.Provenance(producer="etude-omr", service_version="test")


def _page0() -> score_pb2.PageFragment:
    b = IrBuilder(page_index=0)
    b.measure(duration=Fraction(1))  # pickup
    b.note("G4", at=0)
    b.rest(at=0, staff=2)
    b.measure(system_index=1, clefs={2: "G2"})  # the left hand moves to treble clef
    b.chord(["C5", "E5"], at=0, type="half")
    b.note("G5", at=2, type="half", tie_start=True)
    b.note("C4", at=0, type="whole", staff=2)
    return b.fragment()


def _page1() -> score_pb2.PageFragment:
    b = IrBuilder(page_index=1)
    b.measure()
    b.chord(["C5", "G5"], at=0, type="half")  # C5 first: the tie must find G5, not the first note
    b.note("E4", at=0, type="whole", staff=2)
    b.measure(system_index=1)
    b.note("A5", at=0, type="whole")
    b.rest(at=0, type="whole", staff=2, full_measure=True)
    fragment = b.fragment()
    # The page gave no clef for the lower staff: it must inherit treble from page 0.
    for context in (fragment.start_context, fragment.end_context):
        kept = [c for c in context.clefs if c.staff_id != "P1-S2"]
        del context.clefs[:]
        context.clefs.extend(kept)
    for measure in fragment.measures:
        kept_clefs = [c for c in measure.clefs if c.staff_id != "P1-S2"]
        del measure.clefs[:]
        measure.clefs.extend(kept_clefs)
    return fragment


def _page2() -> score_pb2.PageFragment:
    b = IrBuilder(page_index=2, time=(3, 4), quarter_bpm=60.0, id_prefix="p2-")
    b.measure()
    b.note("B4", at=0, type="half", dots=1)
    b.note("D3", at=0, type="half", dots=1, staff=2, voice=2)
    return b.fragment()


def _assemble() -> score_pb2.Score:
    # Given out of order on purpose: pages are sorted by index.
    return assemble_score(
        [_page2(), _page0(), _page1()],
        source=SOURCE,
        provenance=PROVENANCE,
        metadata=score_pb2.Metadata(title="Stitched"),
    )


def test_measures_run_on_continuously() -> None:
    score = _assemble()
    assert validate_score(score) == []
    measures = [
        (m.index, m.number, m.page_index, m.system_index, fraction(m.start_beats)) for m in score.measures
    ]
    assert measures == [
        (0, "0", 0, 0, 0),
        (1, "1", 0, 1, 1),
        (2, "2", 1, 0, 5),
        (3, "3", 1, 1, 9),
        (4, "4", 2, 0, 13),
    ]
    assert [m.start_seconds for m in score.measures] == [0.0, 0.5, 2.5, 4.5, 6.5]
    assert score.measures[4].duration_seconds == 3.0  # 3/4 at the engraved 60 bpm


def test_events_are_shifted_and_ids_made_unique() -> None:
    score = _assemble()
    ids = [n.id for n in score.notes] + [r.id for r in score.rests]
    assert len(ids) == len(set(ids))
    a5 = next(n for n in score.notes if n.pitch.step == "A")
    assert (a5.id, a5.measure_index, fraction(a5.onset_beats), a5.onset_seconds) == ("p1-n4", 3, 9, 4.5)
    b4 = next(n for n in score.notes if n.pitch.step == "B")
    assert b4.id == "p2-n1"  # already prefixed: kept as is
    assert [g.id for g in score.chord_groups] == ["p0-c1", "p1-c1"]
    assert list(score.chord_groups[0].note_ids) == ["p0-n2", "p0-n3"]
    assert all(n.chord_group_id == "p0-c1" for n in score.notes if n.id in {"p0-n2", "p0-n3"})


def test_context_is_carried_across_pages() -> None:
    score = _assemble()
    clefs = {(m.index, c.staff_id): (c.clef.sign, c.clef.line) for m in score.measures for c in m.clefs}
    treble = (notation_pb2.CLEF_SIGN_G, 2)
    assert clefs[(0, "P1-S2")] == (notation_pb2.CLEF_SIGN_F, 4)
    assert clefs[(1, "P1-S2")] == treble
    assert clefs[(2, "P1-S2")] == treble  # inherited: page 1 engraved none
    assert clefs[(3, "P1-S2")] == treble
    assert clefs[(4, "P1-S2")] == (notation_pb2.CLEF_SIGN_F, 4)  # page 2 states its own
    assert [(m.time.numerator, m.time.denominator) for m in score.measures][-1] == (3, 4)


def test_tie_pending_at_page_end_is_closed_on_next_page() -> None:
    score = _assemble()
    start = next(n for n in score.notes if n.id == "p0-n4")
    assert start.tie_start and start.pitch.step == "G"
    (closing,) = [n for n in score.notes if n.tie_stop]
    assert (closing.id, closing.pitch.midi, closing.measure_index) == ("p1-n2", start.pitch.midi, 2)
    assert not [w for w in score.warnings if "tie" in w.message]


def test_unmatched_tie_is_reported_as_a_warning() -> None:
    page1 = _page1()
    for note in page1.notes:
        if note.pitch.step == "G":
            note.pitch.CopyFrom(notation_pb2.Pitch(midi=77, step="F", alter=0, octave=5))
    score = assemble_score([_page0(), page1], source=SOURCE, provenance=PROVENANCE)
    assert not any(n.tie_stop for n in score.notes)
    assert any("p0-n4" in w.message and w.page_index == 1 for w in score.warnings)


def test_tempo_map_voices_and_fragments() -> None:
    score = _assemble()
    tempo = [(fraction(t.at_beats), t.at_seconds, t.quarter_bpm, t.assumed) for t in score.tempo_map]
    assert tempo == [(0, 0.0, 120.0, True), (13, 6.5, 60.0, False)]
    assert [(v.staff_id, v.number) for v in score.voices] == [("P1-S1", 1), ("P1-S2", 1), ("P1-S2", 2)]
    assert [f.page_index for f in score.fragments] == [0, 1, 2]
    assert score.fragments[1] == _page1()
    assert (score.ir_version, score.metadata.title, score.source.page_count) == ("1.0", "Stitched", 3)
    assert [s.hand for s in score.parts[0].staves] == [2, 1]


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="no page fragments"):
        assemble_score([], source=SOURCE, provenance=PROVENANCE)
    with pytest.raises(ValueError, match="share a page"):
        assemble_score([_page0(), _page0()], source=SOURCE, provenance=PROVENANCE)
    broken = _page1()
    broken.notes[0].voice = 0
    with pytest.raises(InvalidScoreError, match="p1-n1"):
        assemble_score([_page0(), broken], source=SOURCE, provenance=PROVENANCE)


def test_score_from_document_states_the_provenance_the_cli_and_gateway_share() -> None:
    header = omr_pb2.DocumentHeader(
        page_count=9,
        first_page=0,
        pages_to_read=3,
        pdf_sha256="cd" * 32,
        dpi=300,
        model=score_pb2.ModelInfo(name="m", version="1", sha256="ef" * 32),
        service_version="0.1.0",
    )
    options = omr_pb2.RecognitionOptions(dpi=0, first_page=0, page_limit=3)
    score = score_from_document([_page0(), _page1(), _page2()], header, options, file_name="ноты.pdf")
    assert validate_score(score) == []
    assert score.source == score_pb2.Source(pdf_sha256="cd" * 32, file_name="ноты.pdf", page_count=9)
    provenance = score.provenance
    assert (provenance.producer, provenance.service_version, provenance.dpi) == ("etude-omr", "0.1.0", 300)
    assert provenance.model == header.model
    # The options as asked for (0: the server's default), beside the dpi the server used.
    assert dict(provenance.options) == {"dpi": "0", "first_page": "0", "page_limit": "3"}
    assert provenance.created_time.seconds > 0
