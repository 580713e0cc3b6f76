"""`etude transcribe a.pdf b.pdf scans/ -o out/`: one score per input, past a bad file, a summary."""

from __future__ import annotations

from pathlib import Path

from etude_cli.batch import is_batch, plan
from ir.export import FORMATS
from tests.cli.test_cli import _transcribe
from tests.omr.conftest import requires_model
from tests.omr.pdfs import piano_pdf


def test_plan_expands_folders_and_keeps_names_apart(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    for name in ("b.pdf", "a.PNG", "notes.txt"):
        (scans / name).write_bytes(b"x")
    (tmp_path / "a.pdf").write_bytes(b"x")
    jobs, missing = plan([tmp_path / "a.pdf", scans, tmp_path / "gone.pdf"], tmp_path / "out", ".mxl")
    assert [(j.source.name, j.output.name) for j in jobs] == [
        ("a.pdf", "a.pdf.mxl"),  # a.pdf and scans/a.PNG share a stem: each keeps its suffix
        ("a.PNG", "a.PNG.mxl"),
        ("b.pdf", "b.mxl"),
    ]
    assert missing == [tmp_path / "gone.pdf"]


def test_what_makes_a_batch(tmp_path: Path) -> None:
    one = tmp_path / "a.pdf"
    one.write_bytes(b"x")
    assert not is_batch([one], tmp_path / "a.musicxml")
    assert is_batch([one, one], tmp_path / "out")
    assert is_batch([tmp_path], tmp_path / "out")
    assert is_batch([one], tmp_path)  # an existing folder
    assert not is_batch([], tmp_path / "x.musicxml")  # --pages-from: one document


def test_format_choices_are_the_export_formats() -> None:
    import argparse

    from etude_cli import transcribe

    parser = argparse.ArgumentParser()
    transcribe.add_arguments(parser)
    action = next(a for a in parser._actions if a.dest == "format")
    assert sorted(action.choices or []) == sorted(FORMATS)


def test_a_batch_of_bad_files_goes_on_and_sums_up(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf at all" * 10)
    other = tmp_path / "other.pdf"
    other.write_bytes(b"%PDF-1.4 broken")
    result = _transcribe(str(bad), str(other), str(tmp_path / "gone.pdf"), "-o", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert sum("error:" in line for line in lines) == 3, lines  # each input said its own error
    assert lines[-1].startswith("etude transcribe: 0 of 3 transcribed into")
    assert "bad.pdf (exit 2)" in lines[-1] and "gone.pdf (exit 2)" in lines[-1]


@requires_model
def test_a_batch_writes_each_score_and_fails_for_the_bad_one(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    (tmp_path / "a.pdf").write_bytes(piano_pdf(40))
    (scans / "b.pdf").write_bytes(piano_pdf(40))
    (scans / "c.pdf").write_bytes(b"not a pdf at all" * 10)
    out = tmp_path / "out"
    result = _transcribe(str(tmp_path / "a.pdf"), str(scans), "-o", str(out), "--format", "midi")
    assert result.returncode == 2, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mid", "b.mid"]
    assert all(p.read_bytes().startswith(b"MThd") for p in out.iterdir())
    summary = result.stderr.strip().splitlines()[-1]
    assert "2 of 3 transcribed" in summary and "c.pdf (exit 2)" in summary
