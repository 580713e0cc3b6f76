"""The exports of a score the committed model actually recognised (the first page of
examples/engraved-piano.pdf, through `etude transcribe`) in the same real readers: MuseScore 3
engraves it and reads back the same notes, music21 re-imports the same notes, and the MIDI file
sounds the same notes at the same times. Recognised scores are messier than hand-built ones
(partial measures, voices the model guessed), which is what these readers must survive.

Skipped, with the reason, where no trained model is installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from etude.ir.v1 import score_pb2

from ir.export import export_score
from tests.clients.notes import (
    describe_difference,
    ir_sounding_notes,
    ir_written_notes,
    midi_sounding_notes,
    music21_written_notes,
)
from tests.clients.programs import musescore, needs_musescore
from tests.gateway.conftest import real_model_missing

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "engraved-piano.pdf"


pytestmark = pytest.mark.skipif(real_model_missing() is not None, reason=str(real_model_missing()))


@pytest.fixture(scope="module")
def recognised(tmp_path_factory: pytest.TempPathFactory) -> score_pb2.Score:
    out = tmp_path_factory.mktemp("recognised") / "page1.pb"
    result = subprocess.run(
        [sys.executable, "-m", "etude_cli.main", "transcribe", str(EXAMPLE), "-o", str(out), "--pages", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    score = score_pb2.Score.FromString(out.read_bytes())
    assert len(score.notes) > 20, "the model recognised almost nothing on an engraved page"
    return score


def test_music21_reimports_the_recognised_notes(recognised: score_pb2.Score) -> None:
    data, _ = export_score(recognised, "musicxml")
    expected = ir_written_notes(recognised)
    actual = music21_written_notes(data)
    assert actual == expected, describe_difference(expected, actual)


def test_midi_plays_the_recognised_notes(recognised: score_pb2.Score) -> None:
    data, _ = export_score(recognised, "midi")
    expected = ir_sounding_notes(recognised)
    actual = midi_sounding_notes(data)
    assert [(m, s) for m, s, _ in actual] == [(m, s) for m, s, _ in expected]


@needs_musescore
def test_musescore_opens_the_recognised_score(recognised: score_pb2.Score, tmp_path: Path) -> None:
    data, _ = export_score(recognised, "musicxml")
    source = tmp_path / "recognised.musicxml"
    source.write_bytes(data)
    pdf = tmp_path / "recognised.pdf"
    result = musescore(source, pdf, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    back = tmp_path / "musescore.musicxml"
    result = musescore(source, back, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = ir_written_notes(recognised)
    actual = music21_written_notes(back)
    assert actual == expected, describe_difference(expected, actual)
