"""IR → MusicXML (music21's exporter) → music21 gives back the same notes."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from etude.ir.v1 import events_pb2, score_pb2

from ir.build import fraction
from ir.musicxml import to_musicxml, to_mxl
from tests.ir.factories import IrBuilder, rich_score

NoteKey = tuple[int, Fraction, int, Fraction, bool]  # staff number, onset, midi, duration, grace


def ir_notes(score: score_pb2.Score) -> list[NoteKey]:
    staff_number = {s.id: s.number for p in score.parts for s in p.staves}
    return sorted(
        (
            staff_number[n.staff_id],
            fraction(n.onset_beats),
            n.pitch.midi,
            fraction(n.duration_beats),
            n.grace,
        )
        for n in score.notes
    )


def music21_notes(parsed: Any) -> list[NoteKey]:
    notes: list[NoteKey] = []
    for staff_number, part in enumerate(parsed.parts, start=1):
        for element in part.flatten().notes:
            for pitch in element.pitches:
                notes.append(
                    (
                        staff_number,
                        Fraction(element.offset),
                        pitch.midi,
                        Fraction(element.quarterLength),
                        element.duration.isGrace,
                    )
                )
    return sorted(notes)


def _parse(data: bytes) -> Any:
    from music21 import converter

    return converter.parseData(data.decode("utf-8"), format="musicxml")


def test_round_trip_gives_the_same_notes() -> None:
    score = rich_score()
    xml = to_musicxml(score)
    assert xml.startswith(b"<?xml") and b"<score-partwise" in xml
    parsed = _parse(xml)
    assert music21_notes(parsed) == ir_notes(score)
    assert len(parsed.parts) == 2  # one grand-staff part, read back as two PartStaffs
    assert xml.count(b"<part id=") == 1 and b'<part id="P1">' in xml and b"<staves>2</staves>" in xml


def test_round_trip_keeps_ties_keys_clefs_voices_and_measures() -> None:
    from music21 import clef, key, meter

    score = rich_score()
    parsed = _parse(to_musicxml(score))
    upper, lower = parsed.parts
    ties = [(Fraction(n.offset), n.tie.type) for n in upper.flatten().notes if n.tie is not None]
    assert ties == [(Fraction(4), "start"), (Fraction(5), "continue"), (Fraction(7), "stop")]
    assert [k.sharps for k in upper.recurse().getElementsByClass(key.KeySignature)] == [1]
    assert [type(c).__name__ for c in lower.recurse().getElementsByClass(clef.Clef)] == [
        "BassClef",
        "TrebleClef",
    ]
    assert [t.ratioString for t in upper.recurse().getElementsByClass(meter.TimeSignature)] == ["4/4"]
    measure = lower.getElementsByClass("Measure")[1]  # after the pickup
    assert len(measure.voices) == 2  # music21 numbers voices part-wide, so their ids are 2 and 3 here
    assert len(upper.getElementsByClass("Measure")) == len(score.measures)
    f_natural = next(n for n in upper.flatten().notes if not n.isChord and n.pitch.name == "F")
    assert f_natural.pitch.accidental is not None and f_natural.pitch.accidental.displayStatus
    marks = list(parsed.recurse().getElementsByClass("MetronomeMark"))
    assert [m.number for m in marks] == [96]


def test_assumed_tempo_is_not_engraved() -> None:
    b = IrBuilder()
    b.measure()
    b.note("C4", type="whole")
    assert b"<metronome" not in to_musicxml(b.score())


def test_single_staff_part_and_empty_measures() -> None:
    from tests.ir.factories import StaffSpec

    b = IrBuilder(staves=[StaffSpec("C3")], time=(3, 8))
    b.measure()
    b.note("C4", at=0, type="quarter", dots=1)
    b.measure()  # nothing read here: a full-measure rest is written
    score = b.score()
    parsed = _parse(to_musicxml(score))
    (part,) = parsed.parts
    assert music21_notes(parsed) == ir_notes(score)
    rests = list(part.flatten().getElementsByClass("Rest"))
    assert [(r.offset, r.quarterLength) for r in rests] == [(1.5, 1.5)]


def test_mxl_is_a_zip_holding_the_same_score() -> None:
    score = rich_score()
    data = to_mxl(score)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert "META-INF/container.xml" in names
        (inner,) = [n for n in names if n.endswith((".xml", ".musicxml")) and not n.startswith("META-INF")]
        xml = archive.read(inner)
    assert music21_notes(_parse(xml)) == ir_notes(score)


@pytest.mark.parametrize("dots", [1, 2])
def test_dotted_notes_keep_their_dots(dots: int) -> None:
    b = IrBuilder(staves=[IrBuilder().staves[0]])
    b.measure()
    b.note("A4", type="half", dots=dots)
    parsed = _parse(to_musicxml(b.score()))
    (n,) = parsed.parts[0].flatten().notes
    assert (n.duration.type, n.duration.dots) == ("half", dots)


def test_inconsistent_type_falls_back_to_the_exact_length() -> None:
    b = IrBuilder(staves=[IrBuilder().staves[0]])
    b.measure()
    note = b.note("A4", type="quarter")
    note.type = events_pb2.NOTE_TYPE_EIGHTH  # the engraved type disagrees with duration_beats
    parsed = _parse(to_musicxml(b.score()))
    (n,) = parsed.parts[0].flatten().notes
    assert n.quarterLength == 1.0


@pytest.mark.skipif(shutil.which("musescore3") is None, reason="MuseScore 3 not installed (CI installs it)")
def test_musescore_opens_it_and_reads_the_same_notes(tmp_path: Path) -> None:
    score = rich_score()
    written = tmp_path / "score.musicxml"
    written.write_bytes(to_musicxml(score))
    converted = tmp_path / "musescore.musicxml"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    result = subprocess.run(
        ["musescore3", "-o", str(converted), str(written)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stdout + result.stderr
    assert music21_notes(_parse(converted.read_bytes())) == ir_notes(score)


def test_grace_chord_and_a_voice_that_starts_late() -> None:
    b = IrBuilder()
    b.measure()
    b.chord(["C5", "E5"], at=1, type="eighth", grace=True)
    b.note("D5", at=1, type="half")
    b.note("C4", at=2, type="quarter", staff=2, voice=3)  # gaps before and after: hidden rests
    score = b.score()
    assert music21_notes(_parse(to_musicxml(score))) == ir_notes(score)


def test_a_note_longer_than_any_note_value_is_written_as_tied_wholes() -> None:
    # A misread measure (missed barlines) can hold 64 quarters; the document must still export.
    from music21 import converter

    from ir.build import rational

    builder = IrBuilder()
    builder.measure()
    builder.note("C4", at=0, type="whole")
    score = builder.score()
    score.measures[0].duration_beats.CopyFrom(rational(Fraction(64)))
    score.notes[0].duration_beats.CopyFrom(rational(Fraction(64)))
    back = converter.parse(to_musicxml(score), format="musicxml")
    notes: list[Any] = list(back.flatten().notes)
    assert [n.pitch.midi for n in notes] == [60] * 16
    assert sum(Fraction(n.quarterLength) for n in notes) == 64
    assert notes[0].tie.type == "start" and notes[-1].tie.type == "stop"


def _overfull_score() -> score_pb2.Score:
    """4/4 with a bar of six quarters (a missed barline) and one of 17 sixteenths."""
    b = IrBuilder()
    b.measure()
    b.note("C5", at=0, type="whole")
    b.measure(duration=Fraction(6))
    for i, pitch in enumerate(["G5", "F5", "E5", "D5", "C5", "B4"]):
        b.note(pitch, at=i)
    b.note("G2", at=4, type="half", staff=2)
    b.measure(duration=Fraction(17, 4))
    for i in range(17):
        b.note("E5", at=Fraction(i, 4), type="16th")
    b.measure()
    b.note("C5", at=0, type="whole")
    return b.score()


def test_overfull_measures_keep_the_time_grid_without_extra_time_signatures() -> None:
    from xml.etree import ElementTree

    score = _overfull_score()
    xml = to_musicxml(score)
    root = ElementTree.fromstring(xml)
    times = [(m.get("number"), t.get("print-object")) for m in root.iter("measure") for t in m.iter("time")]
    assert times == [("1", None)]  # the 4/4 once; no hidden 6/4 or 17/16, and no 4/4 restated after
    assert music21_notes(_parse(xml)) == ir_notes(score)  # every onset where the IR has it


@pytest.mark.skipif(shutil.which("musescore3") is None, reason="MuseScore 3 not installed (CI installs it)")
def test_musescore_reads_overfull_measures_on_the_same_time_grid(tmp_path: Path) -> None:
    score = _overfull_score()
    written = tmp_path / "overfull.musicxml"
    written.write_bytes(to_musicxml(score))
    converted = tmp_path / "musescore.musicxml"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    result = subprocess.run(
        ["musescore3", "-o", str(converted), str(written)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert music21_notes(_parse(converted.read_bytes())) == ir_notes(score)


def test_an_empty_bar_of_a_length_musicxml_cannot_count_is_a_64th_bar_rest() -> None:
    from xml.etree import ElementTree

    b = IrBuilder(time=(1, 64))
    b.measure(duration=Fraction(1, 256))  # 1/64 of a 1/64 bar, empty on both staves
    b.measure()
    b.note("C5", at=0, type="64th")
    root = ElementTree.fromstring(to_musicxml(b.score()))
    divisions = int(root.findtext(".//divisions") or 0)
    rests = [n for n in root.iter("note") if n.find("rest") is not None]
    assert rests and all(r.find("rest").get("measure") == "yes" for r in rests)  # type: ignore[union-attr]
    # Counted exactly: a 64th (not 1/256 of a quarter rounded to a whole number of divisions).
    assert {int(r.findtext("duration") or 0) * 16 for r in rests} == {divisions}


# ---- note ids (the link from an engraved note back to its IR note and box) --------------------

_POSITIONAL = ("default-x", "default-y", "relative-x", "relative-y")


def _note_elements(xml: bytes) -> list[Any]:
    from xml.etree import ElementTree

    return list(ElementTree.fromstring(xml).iter("note"))


def test_every_note_and_rest_carries_its_ir_id() -> None:
    score = rich_score()
    elements = _note_elements(to_musicxml(score))
    ids = [e.get("id") for e in elements if e.get("id")]
    assert len(ids) == len(set(ids)), "ids in a MusicXML document are unique"
    assert sorted(ids) == sorted([n.id for n in score.notes] + [r.id for r in score.rests])
    # Each id sits on the element written for that event: a rest on a <rest/>, a note on its
    # pitch, a grace note on a <grace/>.
    by_id = {e.get("id"): e for e in elements}
    for rest in score.rests:
        assert by_id[rest.id].find("rest") is not None
    for note in score.notes:
        pitch = by_id[note.id].find("pitch")
        assert pitch is not None and pitch.findtext("step") == note.pitch.step
        assert int(pitch.findtext("octave") or 0) == note.pitch.octave
        assert (by_id[note.id].find("grace") is not None) == note.grace
    # Hidden gap rests fill voices only: no IR event, no id.
    assert all(e.get("id") is None for e in elements if e.get("print-object") == "no")


def test_chord_members_and_tied_pieces_get_ids() -> None:
    b = IrBuilder()
    b.measure(time=(5, 4))
    long = b.note("C4", at=0, type="whole")
    long.duration_beats.numerator, long.duration_beats.denominator = 5, 1  # a whole tied to a quarter
    b.measure()
    chord = b.chord(["C4", "E4", "G4"], at=0, type="whole")
    score = b.score()
    elements = _note_elements(to_musicxml(score))
    ids = [e.get("id") for e in elements if e.get("id")]
    assert ids[:2] == [long.id, f"{long.id}.2"], ids  # the second tied piece: <id>.2
    assert [e.find("tie").get("type") for e in elements[:2]] == ["start", "stop"]  # type: ignore[union-attr]
    assert sorted(ids[2:]) == sorted(n.id for n in chord)


def test_an_id_that_is_not_an_xml_id_is_left_out() -> None:
    b = IrBuilder()
    b.measure()
    odd = b.note("C4", at=0, type="whole")
    odd.id = "1 not an id"  # an XML ID is a name: no leading digit, no space
    elements = _note_elements(to_musicxml(b.score()))
    assert [e.get("id") for e in elements if e.find("pitch") is not None] == [None]


def test_no_positions_are_written() -> None:
    """default-x / relative-x are tenths from the engraved measure's start, not page space of a
    scan: nothing positional is written for notes and rests (boxes are in the IR only)."""
    score = rich_score()
    for note in score.notes:
        note.box.x, note.box.y, note.box.width, note.box.height = 0.4, 0.2, 0.01, 0.01
    for element in _note_elements(to_musicxml(score)):
        for descendant in element.iter():
            assert not set(descendant.attrib) & set(_POSITIONAL), (element.get("id"), descendant.attrib)
