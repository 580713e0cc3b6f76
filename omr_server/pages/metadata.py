"""Title, composer and tempo text of a born-digital PDF: its document info, then its first page's
text layer (a scan has neither, and gets nothing).

Document info (Title, Author) wins when it holds a real value, not a placeholder ("Untitled",
"Microsoft Word - x.doc", a file name). From the text layer, which PDFium hands out as runs of
text with their boxes: the tempo is the first run that starts with or ends in a tempo word
("Allegro con spirito", "Variation 12: Allegro" → "Allegro"); the title is the tallest run in the
top quarter of the page when it stands out from the rest of the text; the composer, a run there
that sits in the right half of the page. Runs in a music font (private-use glyphs), measure
numbers and other runs with fewer than two letters are not text for this purpose.
Runs in the PDF worker process (pages/worker.py), on the document it opened.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

_TEMPO_WORDS = [
    *("grave", "largo", "larghetto", "lento", "adagio", "adagietto", "andante", "andantino"),
    *("moderato", "allegretto", "allegro", "vivace", "vivacissimo", "presto", "prestissimo"),
    *("maestoso", "sostenuto", "tempo", "rondo", "minuetto", "menuetto", "scherzo"),
]
# A tempo word and what follows it on the line ("Allegro con brio", "Tempo di Minuetto").
_TEMPO = re.compile(r"\b(" + "|".join(_TEMPO_WORDS) + r")\b.*$", re.IGNORECASE)
_PLACEHOLDER = re.compile(
    r"^(untitled.*|title|composer|score|document\d*|microsoft word - .*"
    r"|.*\.(pdf|mscz?|ly|xml|musicxml|mxl|docx?))$",
    re.IGNORECASE,
)
_LETTER = re.compile(r"[^\W\d_]")
_TOP_SHARE = 0.25  # title and composer are looked for in the top quarter of the first page
_TITLE_STANDS_OUT = 1.3  # a title is this much taller than the page's typical text
# PDFium cannot be interrupted, and loading a page parses every form it draws (a form drawing
# forms ten times over, seven levels deep, takes minutes): a document with Form XObjects gets no
# text-layer metadata, so that opening it stays as cheap as before. A form is a stream, and a
# stream's dictionary is never compressed, so its /Subtype /Form is in the file's bytes; a name
# spelled with # escapes to hide it only moves the cost here, inside the open step's time budget.
_FORM = re.compile(rb"/Subtype\s*/Form\b|/[A-Za-z]*#[0-9A-Fa-f]{2}")
_MAX_OBJECTS = 100_000


@dataclass(frozen=True)
class DocumentMetadata:
    title: str = ""
    composer: str = ""
    tempo_text: str = ""


@dataclass(frozen=True)
class _Run:
    text: str
    left: float
    bottom: float
    right: float
    top: float

    @property
    def height(self) -> float:
        return self.top - self.bottom


def read_metadata(document: pdfium.PdfDocument, pdf: bytes) -> DocumentMetadata:
    """What the document says of itself; empty fields when it does not say (never raises: this
    is a nicety, and a page PDFium cannot read for text still gets recognised)."""
    try:
        info = document.get_metadata_dict()
    except pdfium.PdfiumError:
        info = {}
    runs: list[_Run] = []
    width = height = 0.0
    if len(document) > 0 and _FORM.search(pdf) is None:
        try:
            page = document[0]
            if _cheap_to_read(page):
                runs, (width, height) = _text_runs(page)
        except (pdfium.PdfiumError, ValueError):
            runs = []
    return metadata_from(info, runs, width, height)


def metadata_from(info: dict[str, str], runs: list[_Run], width: float, height: float) -> DocumentMetadata:
    tempo_run, tempo_text = _tempo(runs)
    top = [r for r in runs if r is not tempo_run and r.top >= height * (1 - _TOP_SHARE)]
    title_run = _title_run(top, runs)
    title = _real(info.get("Title", "")) or (title_run.text if title_run else "")
    composer_runs = [r for r in top if r is not title_run and r.left >= width / 2]
    composer = _real(info.get("Author", "")) or (composer_runs[0].text if composer_runs else "")
    return DocumentMetadata(title=title, composer=composer, tempo_text=tempo_text)


def _cheap_to_read(page: pdfium.PdfPage) -> bool:
    """No form inside a form, and at most _MAX_OBJECTS objects in the first two levels."""
    for count, obj in enumerate(page.get_objects(max_depth=2), start=1):
        if count > _MAX_OBJECTS or (obj.level >= 1 and obj.type == pdfium_c.FPDF_PAGEOBJ_FORM):
            return False
    return True


def _text_runs(page: pdfium.PdfPage) -> tuple[list[_Run], tuple[float, float]]:
    """The page's runs of words, top to bottom, each one PDFium text rectangle."""
    textpage = page.get_textpage()
    try:
        runs = []
        for index in range(textpage.count_rects()):
            left, bottom, right, top = textpage.get_rect(index)
            text = " ".join(textpage.get_text_bounded(left, bottom, right, top).split())
            if _is_words(text):
                runs.append(_Run(text, left, bottom, right, top))
    finally:
        textpage.close()
    width, height = page.get_size()
    return sorted(runs, key=lambda r: (-r.top, r.left)), (width, height)


def _is_words(text: str) -> bool:
    if any(0xE000 <= ord(c) <= 0xF8FF for c in text):  # a music font's glyphs (SMuFL, Emmentaler)
        return False
    return len(_LETTER.findall(text)) >= 2


def _tempo(runs: list[_Run]) -> tuple[_Run | None, str]:
    for run in runs:
        match = _TEMPO.search(run.text)
        # At the start of the run, or after a heading ("Variation 12: Allegro"); not mid-sentence.
        if match and (
            match.start() == 0 or run.text[: match.start()].rstrip().endswith((":", "-", "–", "."))
        ):
            return run, match.group(0).strip()
    return None, ""


def _title_run(top: list[_Run], runs: list[_Run]) -> _Run | None:
    if not top:
        return None
    tallest = max(top, key=lambda r: r.height)
    typical = statistics.median(r.height for r in runs)
    return tallest if tallest.height >= typical * _TITLE_STANDS_OUT or len(runs) == 1 else None


def _real(value: str) -> str:
    value = " ".join(value.split())
    return "" if not value or _PLACEHOLDER.match(value) else value
