"""Exports survive any text a user can put in a score: a file name in Cyrillic, control
characters (NUL, ESC, BEL) in the file name, title, composer, part name and tempo text."""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree

import mido
from etude.ir.v1 import score_pb2

from ir.export import export_score
from ir.midi import TEXT_CHARSET
from tests.ir.factories import rich_score

HOSTILE = "a\x00b\x1b[31mc\x07\x0bd\tе.pdf"  # NUL, ESC, BEL, VT, a tab and a Cyrillic е


def _named(file_name: str, **metadata: str) -> score_pb2.Score:
    score = rich_score()
    score.source.file_name = file_name
    score.metadata.CopyFrom(score_pb2.Metadata(**metadata))
    return score


def _track_names(data: bytes) -> list[str]:
    midi = mido.MidiFile(file=io.BytesIO(data), charset=TEXT_CHARSET)
    return [m.name for track in midi.tracks for m in track if m.type == "track_name"]


def test_a_cyrillic_file_name_exports_to_midi_as_utf8() -> None:
    score = _named("ноты.pdf")
    score.parts[0].name = "Фортепиано"
    data, _ = export_score(score, "midi")
    assert _track_names(data) == ["ноты.pdf", "Фортепиано staff 1", "Фортепиано staff 2"]
    assert "ноты.pdf".encode() in data


def test_control_characters_never_reach_a_midi_track_name() -> None:
    score = _named(HOSTILE)
    score.parts[0].name = "Pi\x00ano\x1b"
    names = _track_names(export_score(score, "midi")[0])
    assert names == ["ab[31mcd е.pdf", "Piano staff 1", "Piano staff 2"]


def _musicxml_texts(xml: bytes) -> dict[str, str]:
    root = ElementTree.fromstring(xml)  # raises on a document that is not well-formed
    texts = {
        "title": root.findtext("work/work-title") or root.findtext("movement-title") or "",
        "composer": root.findtext("identification/creator[@type='composer']") or "",
        "part": root.findtext("part-list/score-part/part-name") or "",
        "words": " ".join(w.text or "" for w in root.iter("words")),
    }
    return texts


def test_control_characters_in_every_text_leave_musicxml_and_mxl_well_formed() -> None:
    score = _named(HOSTILE, title=HOSTILE, composer="W.\x00A.\x1b Mozart")
    score.parts[0].name = "Pi\x01ano"
    score.tempo_map[0].text = "\x1fAllegro\x00"
    xml, _ = export_score(score, "musicxml")
    texts = _musicxml_texts(xml)
    assert "ab[31mcd\tе.pdf" in texts["title"] and "\x00" not in texts["title"]
    assert texts["composer"] == "W.A. Mozart"
    assert texts["part"] == "Piano"
    assert "Allegro" in texts["words"]

    archive = zipfile.ZipFile(io.BytesIO(export_score(score, "mxl")[0]))
    assert (
        archive.namelist()[0] == "mimetype"
        and archive.read("mimetype") == b"application/vnd.recordare.musicxml"
    )
    assert archive.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
    container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
    root_file = container.find("rootfiles/rootfile")
    assert root_file is not None
    assert _musicxml_texts(archive.read(root_file.attrib["full-path"])) == texts


def test_mxl_is_the_same_bytes_for_the_same_score() -> None:
    score = rich_score()
    assert export_score(score, "mxl")[0] == export_score(score, "mxl")[0]


def test_no_placeholder_title_or_composer_and_never_the_file_name_as_title() -> None:
    """music21 writes "Music21 Fragment" and composer "Music21" for a score that does not say;
    the file name is not a title either: a score without metadata has neither element."""
    xml, _ = export_score(_named("sonata.pdf"), "musicxml")
    root = ElementTree.fromstring(xml)
    assert b"Music21 Fragment" not in xml and root.find("identification/creator") is None
    assert root.find("work") is None and root.find("movement-title") is None
    assert b"sonata.pdf" not in xml


def test_metadata_and_tempo_text_reach_musicxml() -> None:
    score = _named("sonata.pdf", title="Sonatina in C", composer="M. Clementi", tempo_text="Allegro")
    score.tempo_map[0].text = "Allegro"
    score.tempo_map[0].assumed = True  # the speed was not printed: words alone, no metronome mark
    root = ElementTree.fromstring(export_score(score, "musicxml")[0])
    assert root.findtext("work/work-title") == "Sonatina in C"
    assert root.findtext("identification/creator[@type='composer']") == "M. Clementi"
    assert [w.text for w in root.iter("words")] == ["Allegro"]
    assert root.find(".//metronome") is None
