"""Engrave a `Piece` with Verovio (one system, no line breaks), rasterise with resvg, and
read each staff's line positions from the SVG, so crops can be cut like detected staves."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
import resvg_py
import verovio
from PIL import Image

FONTS = ("Leipzig", "Bravura", "Leland", "Gootville", "Petaluma")
SVG_SPACE_UNITS = 180  # one staff space in Verovio's SVG units at the default staff size
_STAFF = re.compile(r'<g id="[^"]*" class="staff">(.*?)</g>', re.S)
_LINE = re.compile(r'<path d="M(-?\d+) (-?\d+) L(-?\d+) (-?\d+)" stroke-width')
_VIEWBOX = re.compile(r'class="definition-scale"[^>]*viewBox="0 0 (\d+) (\d+)"')
_SIZE = re.compile(r'<svg width="(\d+)px" height="(\d+)px"')
_STAFF_START = re.compile(r'<g id="[^"]*" class="staff">')
_TUPLET_NUM = re.compile(r'class="tupletNum">\s*<use [^>]*transform="translate\((-?\d+), (-?\d+)\)')
_MARGIN = re.compile(r'class="page-margin" transform="translate\((-?\d+), (-?\d+)\)"')


@dataclass(frozen=True)
class StaffGeometry:
    top: float  # pixel row of the top line
    bottom: float
    left: float
    right: float
    tuplet_number_ys: tuple[float, ...] = ()  # pixel rows of the tuplet numbers' baselines


@dataclass
class Engraving:
    page: np.ndarray  # uint8 gray, 255 = paper
    staves: list[StaffGeometry]  # top to bottom
    space_px: float


def _toolkit() -> verovio.toolkit:
    tk = verovio.toolkit()
    verovio.enableLog(verovio.LOG_OFF)
    return tk


_TK: verovio.toolkit | None = None


def engrave(musicxml: str, rng, n_staves: int, space_px: float) -> Engraving:
    """One system of `n_staves` staves; `space_px` is the staff space of the raster."""
    global _TK
    if _TK is None:
        _TK = _toolkit()
    tk = _TK
    tk.setOptions(
        {
            "breaks": "none",
            "scale": 40,
            "font": rng.choice(FONTS),
            "header": "none",
            "footer": "none",
            "adjustPageHeight": True,
            "adjustPageWidth": True,
            "pageMarginLeft": 60,
            "pageMarginRight": 60,
            "pageMarginTop": 60,
            "pageMarginBottom": 60,
            "spacingLinear": rng.uniform(0.15, 0.35),
            "spacingNonLinear": rng.uniform(0.45, 0.7),
            "spacingStaff": rng.uniform(6, 14),
            "staffLineWidth": rng.uniform(0.1, 0.25),
            "stemWidth": rng.uniform(0.15, 0.3),
            "barLineWidth": rng.uniform(0.25, 0.45),
            "ledgerLineThickness": rng.uniform(0.2, 0.35),
            "beamMaxSlope": rng.choice([0, 10, 20]),
            "noJustification": True,
        }
    )
    if not tk.loadData(musicxml):
        raise ValueError("Verovio could not load the MusicXML")
    svg = tk.renderToSVG(1)
    width_px, _ = (int(x) for x in _SIZE.search(svg).groups())  # type: ignore[union-attr]
    vb_w, _ = (int(x) for x in _VIEWBOX.search(svg).groups())  # type: ignore[union-attr]
    units_per_px = vb_w / width_px
    zoom = space_px / (SVG_SPACE_UNITS / units_per_px)
    png = resvg_py.svg_to_bytes(svg_string=svg, background="#ffffff", zoom=zoom)
    image = Image.open(io.BytesIO(bytes(png))).convert("L")
    page = np.asarray(image)
    scale = page.shape[1] / vb_w  # raster px per SVG unit
    margin = _MARGIN.search(svg)
    dx, dy = (int(v) for v in margin.groups()) if margin else (0, 0)
    # Staff groups come measure by measure, staves in order inside each measure.
    per_staff: list[list[tuple[float, float, float, float]]] = [[] for _ in range(n_staves)]
    for index, match in enumerate(_STAFF.finditer(svg)):
        lines = [tuple(int(v) for v in m.groups()) for m in _LINE.finditer(match.group(1))]
        lines = [ln for ln in lines if ln[1] == ln[3]][:5]
        if len(lines) != 5:
            continue
        ys = sorted(ln[1] for ln in lines)
        per_staff[index % n_staves].append(
            (ys[0] + dy, ys[-1] + dy, min(ln[0] for ln in lines) + dx, max(ln[2] for ln in lines) + dx)
        )
    numbers: list[list[float]] = [[] for _ in range(n_staves)]  # pixel rows, per staff
    starts = [m.start() for m in _STAFF_START.finditer(svg)] + [len(svg)]
    for index in range(len(starts) - 1):
        segment = svg[starts[index] : starts[index + 1]]
        numbers[index % n_staves] += [(int(y) + dy) * scale for _, y in _TUPLET_NUM.findall(segment)]
    staves = []
    for boxes, number_ys in zip(per_staff, numbers, strict=True):
        if not boxes:
            raise ValueError("no staff lines found in the SVG")
        top = float(np.median([b[0] for b in boxes]))
        bottom = float(np.median([b[1] for b in boxes]))
        staves.append(
            StaffGeometry(
                top * scale,
                bottom * scale,
                min(b[2] for b in boxes) * scale,
                max(b[3] for b in boxes) * scale,
                tuple(number_ys),
            )
        )
    return Engraving(page, staves, (staves[0].bottom - staves[0].top) / 4)
