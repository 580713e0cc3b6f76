"""JSON round trip, protobuf bytes, and the export entry point by name and by suffix."""

from __future__ import annotations

import io
import json
import zipfile

import mido
import pytest
from etude.ir.v1 import score_pb2

from ir.assemble import assemble_score
from ir.export import FORMATS, export_score, format_for_path
from ir.json_io import from_json, to_json
from ir.validate import validate_score
from tests.ir.factories import IrBuilder, rich_score


def test_json_round_trip_is_exact() -> None:
    score = rich_score()
    text = to_json(score)
    assert from_json(text) == score
    data = json.loads(text)
    assert data["ir_version"] == "1.0" and "onset_beats" in data["notes"][0]
    assert data["notes"][0]["onset_beats"] == {"denominator": "1"}  # int64 as strings, zero left out


def test_json_accepts_camel_case_and_rejects_garbage_clearly() -> None:
    assert (
        from_json('{"irVersion": "1.0", "notes": [{"id": "n1", "onsetBeats": {"numerator": 3}}]}')
        .notes[0]
        .onset_beats.numerator
        == 3
    )
    with pytest.raises(ValueError, match="not an IR v1 Score"):
        from_json('{"notes": [{"pitchh": 3}]}')
    with pytest.raises(ValueError, match="not an IR v1 Score"):
        from_json("not json")


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("a.musicxml", "musicxml"),
        ("b.XML", "musicxml"),
        ("c.mxl", "mxl"),
        ("d.mid", "midi"),
        ("e.midi", "midi"),
        ("dir.v2/f.json", "json"),
        ("g.pb", "pb"),
    ],
)
def test_format_for_path(path: str, fmt: str) -> None:
    assert format_for_path(path) == fmt


def test_unknown_formats_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"cannot tell the score format of 'score\.pdf'.*\.mxl"):
        format_for_path("score.pdf")
    with pytest.raises(ValueError, match="unknown score format 'abc'; expected one of musicxml, mxl"):
        export_score(rich_score(), "abc")


def test_every_format_exports_an_assembled_score() -> None:
    pages = []
    for page_index in range(2):
        b = IrBuilder(page_index=page_index)
        b.measure()
        b.chord(["C4", "E4"], at=0, type="half")
        b.note("G4", at=2, type="half", tie_start=page_index == 0)
        b.rest(at=0, type="whole", staff=2)
        pages.append(b.fragment())
    pages[1].notes[0].pitch.CopyFrom(pages[0].notes[2].pitch)  # page 1 opens with the tied G4
    score = assemble_score(
        pages, source=score_pb2.Source(page_count=2), provenance=score_pb2.Provenance(producer="etude-omr")
    )
    assert validate_score(score) == []
    assert set(FORMATS) == {"musicxml", "mxl", "midi", "json", "pb"}
    outputs = {fmt: export_score(score, fmt) for fmt in FORMATS}
    assert {fmt: content_type for fmt, (_, content_type) in outputs.items()} == {
        "musicxml": "application/vnd.recordare.musicxml+xml",
        "mxl": "application/vnd.recordare.musicxml",
        "midi": "audio/midi",
        "json": "application/json",
        "pb": "application/x-protobuf",
    }
    assert b'<part id="P1">' in outputs["musicxml"][0]
    assert zipfile.ZipFile(io.BytesIO(outputs["mxl"][0])).testzip() is None
    midi = mido.MidiFile(file=io.BytesIO(outputs["midi"][0]))
    assert sum(1 for m in midi.tracks[1] if m.type == "note_on") == 5  # the tied G4 sounds once
    assert from_json(outputs["json"][0].decode()) == score
    assert score_pb2.Score.FromString(outputs["pb"][0]) == score


def test_the_registry_and_the_grpc_enum_list_the_same_formats() -> None:
    from etude.jobs.v1 import job_service_pb2 as jobs_pb2

    grpc_names = {f"SCORE_FORMAT_{f.grpc_name}" for f in FORMATS.values()}
    assert grpc_names == set(jobs_pb2.ScoreFormat.keys()) - {"SCORE_FORMAT_UNSPECIFIED"}
    assert all(f.suffix == f.suffixes[0] and f.suffix.startswith(".") for f in FORMATS.values())
