"""`etude transcribe` on images: one PNG, a JPEG named .png, several images as one document
(--pages-from), and bad images, each a one-line error with exit status 2 and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import _one_line_error, _transcribe
from tests.omr.conftest import requires_model
from tests.omr.images import bomb_png, encode, truncated_png
from tests.omr.pdfs import piano_pages


def _short_page() -> bytes:
    return encode(piano_pages(60)[1].image, "PNG")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (truncated_png(), "IMAGE_CORRUPT"),
        (bomb_png(), "IMAGE_TOO_LARGE"),
        (b"GIF89a" + bytes(200), "not a PDF (no %PDF- header), nor a PNG, JPEG, TIFF or WebP image"),
    ],
    ids=["truncated", "bomb", "gif"],
)
def test_bad_images_are_one_line_and_exit_2(tmp_path: Path, content: bytes, expected: str) -> None:
    source = tmp_path / "page.png"
    source.write_bytes(content)
    out = tmp_path / "out.musicxml"
    result = _transcribe(str(source), "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert expected in _one_line_error(result)
    assert not out.exists()


def test_input_or_pages_from_not_both(tmp_path: Path) -> None:
    page = tmp_path / "p.png"
    page.write_bytes(_short_page())
    out = str(tmp_path / "o.musicxml")
    both = _transcribe(str(page), "--pages-from", str(page), "-o", out)
    neither = _transcribe("-o", out)
    missing = _transcribe("--pages-from", str(page), str(tmp_path / "nope.png"), "-o", out)
    for result in (both, neither):
        assert result.returncode == 2 and "--pages-from" in _one_line_error(result)
    assert missing.returncode == 2 and "nope.png: no such file" in _one_line_error(missing)


@requires_model
def test_transcribe_one_image_named_wrongly(tmp_path: Path) -> None:
    source = tmp_path / "page.png"  # a JPEG: the content decides
    source.write_bytes(encode(piano_pages(60)[1].image, "JPEG"))
    out = tmp_path / "page.musicxml"
    result = _transcribe(str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert b"<score-partwise" in out.read_bytes()[:500]


@requires_model
def test_transcribe_several_images_as_one_document(tmp_path: Path) -> None:
    first, second = tmp_path / "p1.png", tmp_path / "p2.tiff"
    first.write_bytes(_short_page())
    second.write_bytes(encode(piano_pages(60)[1].image, "TIFF"))
    out = tmp_path / "both.json"
    result = _transcribe("--pages-from", str(first), str(second), "-o", str(out))
    assert result.returncode == 0, result.stderr
    from etude.ir.v1 import score_pb2
    from google.protobuf import json_format

    score = json_format.Parse(out.read_text(), score_pb2.Score(), ignore_unknown_fields=True)
    assert [fragment.page_index for fragment in score.fragments] == [0, 1]
