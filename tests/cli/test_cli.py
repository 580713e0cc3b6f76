"""`etude transcribe`: one clear line and a non-zero exit for bad input or a missing model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.omr.conftest import requires_model
from tests.omr.pdfs import encrypted_pdf, piano_pdf

ROOT = Path(__file__).resolve().parents[2]


def _transcribe(*args: str) -> subprocess.CompletedProcess[str]:
    # The command module alone, as `etude transcribe` runs it (main.py also loads other commands).
    code = (
        "import argparse, sys; from etude_cli import transcribe; "
        "parser = argparse.ArgumentParser(prog='etude transcribe'); transcribe.add_arguments(parser); "
        "sys.exit(transcribe.run(parser.parse_args(sys.argv[1:])))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"not a pdf at all" * 10, "not a PDF"), (encrypted_pdf(), "encrypted")],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: bytes, expected: str) -> None:
    source = tmp_path / "in.pdf"
    source.write_bytes(content)
    out = tmp_path / "out.musicxml"
    result = _transcribe(str(source), "-o", str(out))
    assert result.returncode == 2
    assert expected in _one_line_error(result)
    assert not out.exists()


def test_missing_input_and_unknown_format(tmp_path: Path) -> None:
    missing = _transcribe(str(tmp_path / "nope.pdf"), "-o", str(tmp_path / "o.musicxml"))
    assert missing.returncode == 2 and "no such file" in _one_line_error(missing)
    source = tmp_path / "in.pdf"
    source.write_bytes(piano_pdf(40))
    unknown = _transcribe(str(source), "-o", str(tmp_path / "o.docx"))
    assert unknown.returncode == 2
    _one_line_error(unknown)


def test_missing_model_is_one_line_and_exit_1(tmp_path: Path) -> None:
    source = tmp_path / "in.pdf"
    source.write_bytes(piano_pdf(40))
    out = tmp_path / "out.json"
    result = _transcribe(str(source), "-o", str(out), "--model-dir", str(tmp_path / "no-model"))
    assert result.returncode == 1
    assert "no recognition model" in _one_line_error(result)
    assert not out.exists()


@requires_model
@pytest.mark.parametrize("suffix", [".musicxml", ".mid", ".json"])
def test_transcribe_writes_the_score(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / "piece.pdf"
    source.write_bytes(piano_pdf(40))
    out = tmp_path / f"piece{suffix}"
    result = _transcribe(str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "page 1/1" in result.stderr
    assert "loading model" not in result.stderr  # a --verbose line when stderr is not a terminal
    assert "\x1b" not in result.stderr  # not a terminal: plain lines, no progress bar
    assert out.stat().st_size > 100


def test_first_page_counts_from_one(tmp_path: Path) -> None:
    source = tmp_path / "in.pdf"
    source.write_bytes(piano_pdf(40))
    result = _transcribe(str(source), "-o", str(tmp_path / "o.json"), "--first-page", "0")
    assert result.returncode == 2
    assert "counts from 1" in _one_line_error(result)
