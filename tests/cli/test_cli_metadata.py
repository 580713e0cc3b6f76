"""Title, composer and tempo text from a born-digital PDF (document info, text layer) reach the
IR and the MusicXML; a PDF without them gets none, and never a placeholder."""

from __future__ import annotations

import asyncio
import ctypes
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from omr_server.pages.metadata import DocumentMetadata, read_metadata
from tests.hostile.pdfbuild import assemble
from tests.omr.conftest import requires_model
from tests.omr.pdfs import piano_pdf

ROOT = Path(__file__).resolve().parents[2]
A4 = (595, 842)


def _pdf(texts: Sequence[tuple[float, float, float, str]], info: dict[str, str]) -> bytes:
    """A one-page PDF drawing each (x, y, size, text) in Helvetica, with `info` as its document info."""
    stream = b"".join(f"BT /F1 {size} Tf {x} {y} Td ({text}) Tj ET\n".encode() for x, y, size, text in texts)
    info_entries = "".join(f"/{key} ({value})" for key, value in info.items())
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {A4[0]} {A4[1]}] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>".encode(),
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< {info_entries} >>".encode(),
    ]
    return assemble(objects, trailer_extra=b"/Info 6 0 R")


def _read(data: bytes) -> DocumentMetadata:
    return read_metadata(pdfium.PdfDocument(data), data)


def test_document_info_gives_title_and_composer() -> None:
    data = _pdf([(72, 600, 11, "Allegro con brio")], {"Title": "Sonatina in C", "Author": "Muzio Clementi"})
    assert _read(data) == DocumentMetadata("Sonatina in C", "Muzio Clementi", "Allegro con brio")


def test_text_layer_gives_title_composer_and_tempo_when_info_is_empty_or_a_placeholder() -> None:
    texts = [
        (180, 790, 24, "Sonatina in G"),  # large, at the top: the title
        (400, 760, 11, "Ludwig van Beethoven"),  # top right: the composer
        (72, 730, 11, "Variation 2: Andante"),  # a heading with a tempo word
        (72, 500, 9, "legato"),
        (40, 480, 8, "12"),  # a measure number is not text
    ]
    got = _read(_pdf(texts, {"Title": "Untitled", "Author": "", "Creator": "Notation 1.0"}))
    assert got == DocumentMetadata("Sonatina in G", "Ludwig van Beethoven", "Andante")


def test_file_names_and_placeholders_are_not_titles() -> None:
    got = _read(_pdf([(72, 500, 10, "dolce")], {"Title": "Microsoft Word - sonata.docx", "Author": ""}))
    assert got == DocumentMetadata()
    assert _read(_pdf([], {"Title": "scan-0042.pdf"})) == DocumentMetadata()


def test_a_pdf_without_text_gets_nothing() -> None:
    assert _read(piano_pdf(40)) == DocumentMetadata()


def test_the_worker_hands_the_metadata_to_the_pipeline() -> None:
    from omr_server.pipeline import DocumentRequest, check_document
    from omr_server.settings import OmrSettings

    data = _pdf([(72, 700, 11, "Presto")], {"Title": "Etude", "Author": "C. Czerny"})
    selection = asyncio.run(check_document(OmrSettings(metrics_port=None), DocumentRequest(data)))
    assert selection.metadata == DocumentMetadata("Etude", "C. Czerny", "Presto")


def _with_text(pdf: bytes, texts: list[tuple[float, float, float, str]]) -> bytes:
    """`pdf` with text drawn on its first page by PDFium (a born-digital PDF's text layer)."""
    document = pdfium.PdfDocument(pdf)
    page = document[0]
    for x, y, size, text in texts:
        obj = pdfium_c.FPDFPageObj_NewTextObj(document.raw, b"Helvetica", ctypes.c_float(size))
        encoded = (text + "\0").encode("utf-16-le")
        pdfium_c.FPDFText_SetText(
            obj, ctypes.cast(ctypes.c_char_p(encoded), ctypes.POINTER(pdfium_c.FPDF_WCHAR))
        )
        pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, x, y)
        pdfium_c.FPDFPage_InsertObject(page.raw, obj)
    assert pdfium_c.FPDFPage_GenerateContent(page.raw)
    import io

    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@requires_model
def test_transcribe_writes_the_pdf_title_and_tempo_to_musicxml(tmp_path: Path) -> None:
    width, height = pdfium.PdfDocument(piano_pdf(40))[0].get_size()
    source = tmp_path / "untitled-scan.pdf"
    source.write_bytes(
        _with_text(
            piano_pdf(40),
            [(width * 0.3, height - 30, 20, "Little Study"), (40, height - 60, 9, "Allegretto")],
        )
    )
    out = tmp_path / "out.musicxml"
    result = subprocess.run(
        [sys.executable, "-m", "etude_cli.main", "transcribe", str(source), "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    root = ElementTree.fromstring(out.read_bytes())
    assert root.findtext("work/work-title") == "Little Study"
    assert "Allegretto" in [w.text for w in root.iter("words")]
    assert root.find("identification/creator") is None  # no composer printed: none written
    assert b"Music21" not in out.read_bytes().replace(b"music21 v", b"")


@pytest.mark.parametrize("title", ["Untitled", "score.mscz", "document1"])
def test_placeholder_titles(title: str) -> None:
    assert _read(_pdf([], {"Title": title})).title == ""


def test_a_document_with_forms_is_not_loaded_for_its_text() -> None:
    """Loading a page parses its forms (minutes for a nested fan-out): such a document gets
    document info only, and opening it costs what it did before."""
    import time

    from tests.hostile.generate import form_fanout_pdf

    data = form_fanout_pdf(7, 10)
    started = time.perf_counter()
    assert _read(data) == DocumentMetadata()
    assert time.perf_counter() - started < 1.0
