"""The MusicXML export in real readers: MuseScore 3 opens it (engraves a PDF and writes its own
MusicXML, which must still hold the same notes) and music21 re-imports the same notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest

from ir.export import export_score
from tests.clients.notes import describe_difference, ir_written_notes, music21_written_notes
from tests.clients.programs import musescore, needs_musescore
from tests.clients.scores import piano_score


@pytest.fixture
def musicxml_file(tmp_path: Path) -> Path:
    data, content_type = export_score(piano_score(), "musicxml")
    assert "xml" in content_type
    path = tmp_path / "piano.musicxml"
    path.write_bytes(data)
    return path


def test_music21_reimports_the_same_notes(musicxml_file: Path) -> None:
    expected = ir_written_notes(piano_score())
    actual = music21_written_notes(musicxml_file)
    assert actual == expected, describe_difference(expected, actual)


@needs_musescore
def test_musescore_engraves_the_musicxml_to_pdf(musicxml_file: Path, tmp_path: Path) -> None:
    pdf_path = tmp_path / "piano.pdf"
    result = musescore(musicxml_file, pdf_path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    document = pdfium.PdfDocument(pdf_path)
    assert len(document) >= 1
    # The engraved page is not blank: MuseScore drew the music on it.
    pixels = np.asarray(document[0].render(scale=1).to_pil().convert("L"))
    dark = int((pixels < 128).sum())
    assert dark > 2000, f"only {dark} dark pixels on MuseScore's page"


@needs_musescore
def test_musescore_reads_the_same_notes(musicxml_file: Path, tmp_path: Path) -> None:
    # MuseScore imports our file into its own model and writes MusicXML from that model: if it
    # misread anything (pitch, rhythm, staff, tie, tuplet), the notes differ.
    back = tmp_path / "musescore.musicxml"
    result = musescore(musicxml_file, back, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = ir_written_notes(piano_score())
    actual = music21_written_notes(back)
    assert actual == expected, describe_difference(expected, actual)
