"""Draw a score's note and rest boxes on its pages, to look at them (issue 15's spot check):

    uv run etude transcribe scan.pdf -o /tmp/scan.pb
    uv run python -m training.evaluation.boxes_check /tmp/scan.pb scan.pdf --page 1 --out /tmp/boxes.png

Boxes are page-relative (IR `PageBox`), so they are drawn on the page rasterised at any dpi;
notes in red (orange below the web page's low-confidence mark), rests in blue.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from etude.ir.v1 import score_pb2
from PIL import Image, ImageDraw

LOW_CONFIDENCE = 0.5


def draw_boxes(score: score_pb2.Score, page: Image.Image, page_index: int) -> tuple[Image.Image, int, int]:
    """The page with its boxes drawn; how many notes of the page have a box, and how many not."""
    canvas = page.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    placed = missing = 0
    events = [(n.box, n.confidence, "note") for n in score.notes] + [
        (r.box, r.confidence, "rest") for r in score.rests
    ]
    for box, confidence, kind in events:
        if box.page_index != page_index or box.width <= 0:
            if kind == "note" and box.width <= 0:
                missing += 1
            continue
        placed += kind == "note"
        colour = (
            (0, 90, 255) if kind == "rest" else (255, 140, 0) if confidence < LOW_CONFIDENCE else (230, 0, 0)
        )
        x0, y0 = box.x * width, box.y * height
        draw.rectangle((x0, y0, x0 + box.width * width, y0 + box.height * height), outline=colour, width=2)
    return canvas, placed, missing


def main(argv: list[str] | None = None) -> None:
    import pypdfium2 as pdfium

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("score", type=Path, help="an IR protobuf (.pb) written by etude transcribe")
    ap.add_argument("pdf", type=Path)
    ap.add_argument("--page", type=int, default=1, help="1-based page number")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    score = score_pb2.Score.FromString(a.score.read_bytes())
    page = pdfium.PdfDocument(str(a.pdf))[a.page - 1].render(scale=150 / 72).to_pil()
    canvas, placed, missing = draw_boxes(score, page, a.page - 1)
    canvas.save(a.out)
    print(f"page {a.page}: {placed} notes boxed, {missing} notes of the score unboxed -> {a.out}")


if __name__ == "__main__":
    main()
