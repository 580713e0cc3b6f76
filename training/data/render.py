"""Engrave a `Piece` with Verovio (one system, no line breaks), rasterise with resvg, and
read each staff's line positions from the SVG, so crops can be cut like detected staves."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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
class EventGlyphs:
    """One engraved event of a layer: a note (one notehead), a chord (its noteheads, in SVG
    order) or a rest (its glyph). Centres in page raster coordinates, continuous (x = 0 is the
    left edge of pixel column 0; pixel column i spans [i, i + 1)), before any rotation."""

    rest: bool
    centres: tuple[tuple[float, float], ...]  # (x, y) of each notehead / of the rest glyph


@dataclass(frozen=True)
class StaffGeometry:
    top: float  # pixel row of the top line
    bottom: float
    left: float
    right: float
    tuplet_number_ys: tuple[float, ...] = ()  # pixel rows of the tuplet numbers' baselines
    # per measure, the events of all its layers (layer 1's in time order, then layer 2's ...);
    # empty when the SVG could not be read that way
    measures: tuple[tuple[EventGlyphs, ...], ...] = ()


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
    font = rng.choice(FONTS)
    tk.setOptions(
        {
            "breaks": "none",
            "scale": 40,
            "font": font,
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
    glyphs = staff_events(svg, n_staves, font, dx, dy, scale)
    staves = []
    for boxes, number_ys, measures in zip(per_staff, numbers, glyphs, strict=True):
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
                measures,
            )
        )
    return Engraving(page, staves, (staves[0].bottom - staves[0].top) / 4)


# Glyph centres. A `<use>` of a SMuFL glyph is `translate(X, Y) scale(s, s)` of a path drawn in
# font units (1000 per em, y up: the path carries scale(1, -1)); X, Y is the glyph's origin, not
# its centre. Verovio ships each font's glyph bounding boxes (data/<font>.xml: x, y, w, h in font
# units), so the centre is exact per font: (X + s (x + w/2), Y - s (y + h/2)). Glyphs a font lacks
# fall back to Leipzig's boxes (Verovio's own fallback font), then to a black notehead's.
_SVG = "{http://www.w3.org/2000/svg}"
_HREF = "{http://www.w3.org/1999/xlink}href"
_TRANSFORM = re.compile(r"translate\((-?[\d.]+),\s*(-?[\d.]+)\)(?:\s*scale\((-?[\d.]+))?")
_EVENTS = {"note", "chord", "rest", "mRest"}
_FALLBACK_BOX = (0.0, -125.0, 295.0, 250.0)  # Bravura noteheadBlack: 1.18 staff spaces wide


@cache
def glyph_boxes(font: str) -> dict[str, tuple[float, float, float, float]]:
    """SMuFL code (e.g. "E0A4") -> (x, y, w, h) in font units, from Verovio's resource files."""
    path = Path(verovio.__file__).parent / "data" / f"{font}.xml"
    if not path.exists():
        return {}
    boxes = {}
    for g in ET.parse(path).getroot().iter("g"):
        x, y, w, h = (float(g.attrib[k]) for k in "xywh")
        boxes[g.attrib["c"]] = (x, y, w, h)
    return boxes


def _classes(element: ET.Element) -> set[str]:
    return set(element.attrib.get("class", "").split())


def _glyph_centre(use: ET.Element, font: str) -> tuple[float, float] | None:
    """Centre of a glyph `<use>` in SVG units (page-margin group coordinates)."""
    match = _TRANSFORM.match(use.attrib.get("transform", ""))
    if match is None:
        return None
    x, y = float(match.group(1)), float(match.group(2))
    s = float(match.group(3)) if match.group(3) else 1.0
    code = use.attrib.get(_HREF, use.attrib.get("href", "")).lstrip("#").split("-")[0]
    box = glyph_boxes(font).get(code) or glyph_boxes("Leipzig").get(code) or _FALLBACK_BOX
    bx, by, bw, bh = box
    return x + s * (bx + bw / 2), y - s * (by + bh / 2)


def _first_use(element: ET.Element) -> ET.Element | None:
    return next(element.iter(f"{_SVG}use"), None)


def _notehead(note: ET.Element) -> ET.Element | None:
    for child in note.iter(f"{_SVG}g"):
        if "notehead" in _classes(child):
            return _first_use(child)
    return None


def _layer_events(layer: ET.Element, font: str) -> list[tuple[bool, list[tuple[float, float] | None]]]:
    """Events of one layer in document (= time) order; beams, tuplets and grace groups are
    looked through, clef changes and spaces skipped."""
    out: list[tuple[bool, list[tuple[float, float] | None]]] = []

    def visit(element: ET.Element) -> None:
        for child in element:
            if child.tag != f"{_SVG}g":
                continue
            kind = _classes(child) & _EVENTS
            if not kind:
                visit(child)
            elif kind & {"rest", "mRest"}:
                use = _first_use(child)
                out.append((True, [_glyph_centre(use, font) if use is not None else None]))
            elif "chord" in kind:
                heads = []
                for note in child.iter(f"{_SVG}g"):
                    if "note" in _classes(note):
                        head = _notehead(note)
                        heads.append(_glyph_centre(head, font) if head is not None else None)
                out.append((False, heads))
            else:
                head = _notehead(child)
                out.append((False, [_glyph_centre(head, font) if head is not None else None]))

    visit(layer)
    return out


def staff_events(
    svg: str, n_staves: int, font: str, dx: float, dy: float, scale: float
) -> list[tuple[tuple[EventGlyphs, ...], ...]]:
    """Per staff, per measure, the noteheads and rest glyphs of the SVG (page raster coordinates,
    see `EventGlyphs`). A staff whose SVG does not have the expected measure/staff/layer shape, or
    a glyph without a readable position, gets no measures (so it gets no position labels)."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError:
        return [() for _ in range(n_staves)]
    per_staff: list[list[tuple[EventGlyphs, ...]]] = [[] for _ in range(n_staves)]
    broken = [False] * n_staves
    for measure in root.iter(f"{_SVG}g"):
        if "measure" not in _classes(measure):
            continue
        staves = [g for g in measure if g.tag == f"{_SVG}g" and "staff" in _classes(g)]
        if len(staves) != n_staves:
            broken = [True] * n_staves
            continue
        for s, staff in enumerate(staves):
            events = []
            for layer in staff:
                if layer.tag != f"{_SVG}g" or "layer" not in _classes(layer):
                    continue
                for rest, centres in _layer_events(layer, font):
                    found = [c for c in centres if c is not None]
                    if not found or len(found) != len(centres):
                        broken[s] = True
                        continue
                    page = tuple(((x + dx) * scale, (y + dy) * scale) for x, y in found)
                    events.append(EventGlyphs(rest, page))
            per_staff[s].append(tuple(events))
    return [() if broken[s] else tuple(per_staff[s]) for s in range(n_staves)]
