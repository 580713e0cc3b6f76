"""Where a note or rest is on its page: the model's crop column → page box.

The model says at which column of the staff crop it read a notehead or rest
(`recognition.symbols.NoteSymbol.x`). The crop was cut from the deskewed page by
`recognition.crop.crop_staff`, so `page_column` takes the column back to the deskewed page;
the row follows from the notehead's staff position (0 = bottom line, one step per half space)
on the staff's lines. The point is then turned back by the skew that deskewing removed, so the
box lands on the page as it was given, in page-relative units (0..1) as `PageBox` asks.

Box sizes are the engraving's, not measured per glyph: a notehead is about 1.2 staff spaces
wide and one high; a rest is given one space by two, centred on its column and the staff's
middle line (the model does not say how high a rest sits).
"""

from __future__ import annotations

import math

from etude.ir.v1 import notation_pb2

from omr_server.staves.layout import Staff
from recognition.crop import DEFAULT_HEIGHT, page_column
from recognition.symbols import NoteSymbol, RestSymbol

NOTEHEAD_SPACES = (1.2, 1.0)  # width, height in staff spaces
REST_SPACES = (1.0, 2.0)
MIDDLE_LINE = 4  # staff position of the middle line


def _undeskewed(x: float, y: float, width: int, height: int, skew_degrees: float) -> tuple[float, float]:
    """Point of the deskewed page → the same point on the page before deskewing. Deskewing
    rotated the page by -skew about its centre (PIL, counter-clockwise positive, y down), so
    the point is rotated back by +skew."""
    if not skew_degrees:
        return x, y
    a = math.radians(skew_degrees)
    cx, cy = width / 2, height / 2
    dx, dy = x - cx, y - cy
    return cx + dx * math.cos(a) + dy * math.sin(a), cy - dx * math.sin(a) + dy * math.cos(a)


def symbol_box(
    symbol: NoteSymbol | RestSymbol,
    staff: Staff,
    page_index: int,
    page_size: tuple[int, int],
    skew_degrees: float = 0.0,
    crop_height: int = DEFAULT_HEIGHT,
) -> notation_pb2.PageBox | None:
    """The symbol's box on page `page_index` of (height, width) `page_size`; None when the model
    gave no column."""
    if symbol.x is None or not math.isfinite(symbol.x):
        return None
    height, width = page_size
    space = staff.interline
    x = page_column(symbol.x, staff.top, staff.bottom, staff.left_x, staff.right_x, height=crop_height)
    if isinstance(symbol, NoteSymbol) and symbol.staff_position is not None:
        y = staff.bottom - symbol.staff_position * space / 2
        box_w, box_h = NOTEHEAD_SPACES
    else:
        y = staff.bottom - MIDDLE_LINE * space / 2
        box_w, box_h = NOTEHEAD_SPACES if isinstance(symbol, NoteSymbol) else REST_SPACES
    x, y = _undeskewed(x, y, width, height, skew_degrees)
    w, h = box_w * space, box_h * space
    left = min(max(x - w / 2, 0.0), float(width))
    top = min(max(y - h / 2, 0.0), float(height))
    return notation_pb2.PageBox(
        page_index=page_index,
        x=left / width,
        y=top / height,
        width=min(w, width - left) / width,
        height=min(h, height - top) / height,
    )
