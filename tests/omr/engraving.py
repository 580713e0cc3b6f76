"""Engraved test pages: made-up piano music in Humdrum **kern → Verovio SVG → resvg PNG → PDF.

The music is generated here (deterministic, seeded), so the PDFs carry no third-party
content and can be committed. Used by the OMR tests and to make examples/engraved-piano.pdf:

    uv run python -m tests.omr.engraving examples/engraved-piano.pdf --pages 3
"""

from __future__ import annotations

import argparse
import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

A4_WIDTH_MM = 210.0
A4_HEIGHT_MM = 297.0

_TREBLE_PITCHES = ["c", "d", "e", "f", "g", "a", "b", "cc", "dd", "ee", "ff", "gg"]
_BASS_PITCHES = ["C", "D", "E", "F", "G", "A", "B", "c"]
_RHYTHMS = [["4", "4", "4", "4"], ["8", "8", "4", "4", "4"], ["2", "4", "4"], ["4", "8", "8", "2"]]


def piano_kern(measures: int, *, seed: int = 1, title: str = "Étude test piece") -> str:
    """A made-up grand-staff piece: melody on the upper staff, chords on the lower one, 4/4 in C."""
    rng = random.Random(seed)
    rows: list[str] = [
        f"!!!OTL: {title}",
        "**kern\t**kern",
        "*staff2\t*staff1",
        "*clefF4\t*clefG2",
        "*k[]\t*k[]",
        "*M4/4\t*M4/4",
    ]
    for number in range(1, measures + 1):
        rows.append(f"={number}\t={number}")
        upper = [f"{d}{rng.choice(_TREBLE_PITCHES)}" for d in rng.choice(_RHYTHMS)]
        root = rng.randrange(len(_BASS_PITCHES) - 2)
        chord = " ".join(f"2{_BASS_PITCHES[root + k]}" for k in (0, 2))
        lower = [chord, chord]
        # Interleave both spines on a common grid of eighth notes.
        grid: dict[int, list[str]] = {}
        for spine, notes in ((0, lower), (1, upper)):
            at = 0
            for token in notes:
                grid.setdefault(at, [".", "."])[spine] = token
                at += 8 // int(token.split()[0][0])
        for at in sorted(grid):
            rows.append("\t".join(grid[at]))
    rows.append("==\t==")
    rows.append("*-\t*-")
    return "\n".join(rows) + "\n"


def single_staff_kern(measures: int, *, seed: int = 2) -> str:
    rng = random.Random(seed)
    rows = ["**kern", "*clefG2", "*k[]", "*M4/4"]
    for number in range(1, measures + 1):
        rows.append(f"={number}")
        rows.extend(f"{d}{rng.choice(_TREBLE_PITCHES)}" for d in rng.choice(_RHYTHMS))
    rows += ["==", "*-"]
    return "\n".join(rows) + "\n"


def svg_pages(kern: str, *, scale: int = 40, spacing: int | None = None) -> list[str]:
    import verovio

    toolkit = verovio.toolkit()
    options: dict[str, object] = {
        "pageWidth": int(A4_WIDTH_MM * 10),
        "pageHeight": int(A4_HEIGHT_MM * 10),
        "scale": scale,
        "adjustPageHeight": False,
        "header": "none",
        "footer": "none",
        "breaks": "auto",
    }
    if spacing is not None:
        options["spacingSystem"] = spacing
    toolkit.setOptions(options)
    toolkit.loadData(kern)
    return [toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1)]


def rasterise_svg(svg: str, *, dpi: int = 300) -> np.ndarray:
    """The SVG page as uint8 grayscale at `dpi` (255 = paper)."""
    import resvg_py

    width = round(A4_WIDTH_MM / 25.4 * dpi)
    png = resvg_py.svg_to_bytes(svg_string=svg, width=width, background="#ffffff")
    with Image.open(io.BytesIO(bytes(png))) as image:
        return np.asarray(image.convert("L"))


def images_to_pdf(pages: list[np.ndarray], *, dpi: int = 300, bilevel: bool = True) -> bytes:
    """Pages as a PDF, each image filling an A4 page at `dpi`. Bilevel pages stay small (CCITT)."""
    images = [Image.fromarray(page).convert("1") if bilevel else Image.fromarray(page) for page in pages]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return out.getvalue()


def skewed(page: np.ndarray, degrees: float) -> np.ndarray:
    """The page rotated about its centre, paper filling the corners (like a scan fed askew)."""
    image = Image.fromarray(page).rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=255)
    return np.asarray(image)


def noisy(page: np.ndarray, *, seed: int = 0, speckle: float = 0.002, gaps: int = 200) -> np.ndarray:
    """Salt-and-pepper speckle, gray paper noise and short white gaps cut through lines (broken lines)."""
    rng = np.random.default_rng(seed)
    out = page.astype(np.int16) + rng.normal(0, 12, page.shape).astype(np.int16)
    flips = rng.random(page.shape) < speckle
    out[flips] = 255 - out[flips]
    height, width = page.shape
    for _ in range(gaps):
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width - 12))
        out[max(0, y - 6) : y + 6, x : x + int(rng.integers(3, 10))] = 255
    return np.clip(out, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class EngravedPage:
    image: np.ndarray
    staves: int
    systems: int


def count_layout(svg: str) -> tuple[int, int]:
    """(staves, systems) on a Verovio SVG page, from its class attributes: the ground truth."""
    systems = svg.split('class="system"')[1:]
    staves = 0
    for system in systems:
        first_measure = system.split('class="measure"')[1]
        staves += first_measure.count('class="staff"')
    return staves, len(systems)


def engraved_pages(kern: str, *, dpi: int = 300, scale: int = 40) -> list[EngravedPage]:
    pages = []
    for svg in svg_pages(kern, scale=scale):
        staves, systems = count_layout(svg)
        pages.append(EngravedPage(rasterise_svg(svg, dpi=dpi), staves, systems))
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--measures", type=int, default=60)
    parser.add_argument("--dpi", type=int, default=300)
    args = parser.parse_args()
    pages = engraved_pages(piano_kern(args.measures), dpi=args.dpi)
    args.out.write_bytes(images_to_pdf([p.image for p in pages], dpi=args.dpi))
    print(f"{args.out}: {len(pages)} pages, {[p.staves for p in pages]} staves")


if __name__ == "__main__":
    main()
