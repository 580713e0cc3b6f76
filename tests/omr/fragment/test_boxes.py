"""Note boxes: the model's crop column → a box on the page as it was given (deskew undone)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from omr_server.fragment.boxes import _undeskewed, symbol_box
from omr_server.fragment.build import StaffTokens, build_fragment
from omr_server.fragment.context import ReadingContext
from omr_server.staves.layout import PageLayout, Staff, System
from recognition.crop import crop_column
from recognition.symbols import NoteSymbol, RestSymbol

STAFF = Staff(line_ys=(400, 420, 440, 460, 480), left_x=100, right_x=1900)
PAGE = (1200, 2000)  # height, width


def _centre(box) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    height, width = PAGE
    return (box.x + box.width / 2) * width, (box.y + box.height / 2) * height


def test_a_notehead_box_is_centred_where_the_crop_column_and_staff_position_say() -> None:
    column = crop_column(700.0, STAFF.top, STAFF.bottom, STAFF.left_x, STAFF.right_x)
    note = NoteSymbol("B", 4, None, "quarter", x=column, staff_position=4)  # middle line
    box = symbol_box(note, STAFF, 3, PAGE)
    assert box is not None and box.page_index == 3
    x, y = _centre(box)
    assert abs(x - 700.0) < 0.01 and abs(y - 440.0) < 0.01
    assert math.isclose(box.width * PAGE[1], 1.2 * STAFF.interline)
    low = symbol_box(NoteSymbol("C", 4, None, "quarter", x=column, staff_position=-2), STAFF, 3, PAGE)
    assert low is not None and abs(_centre(low)[1] - 500.0) < 0.01  # first ledger line below (C4 in treble)


def test_no_column_no_box() -> None:
    assert symbol_box(NoteSymbol("B", 4, None, "quarter"), STAFF, 0, PAGE) is None
    assert symbol_box(RestSymbol("quarter", x=float("nan")), STAFF, 0, PAGE) is None


def test_deskew_is_undone_like_pil_rotates() -> None:
    """A dot on the original page, rotated as deskewing rotates it, comes back to where it was."""
    height, width = 300, 400
    page = np.full((height, width), 255, np.uint8)
    page[99:102, 299:302] = 0  # a dot at (300, 100)
    skew = 2.0
    deskewed = np.asarray(
        Image.fromarray(page).rotate(-skew, resample=Image.Resampling.BILINEAR, fillcolor=255)
    )
    ys, xs = np.nonzero(deskewed < 128)
    x, y = _undeskewed(float(xs.mean()), float(ys.mean()), width, height, skew)
    assert abs(x - 300) < 0.7 and abs(y - 100) < 0.7


def test_fragment_notes_and_rests_carry_boxes_when_the_model_gives_columns() -> None:
    layout = PageLayout(
        image=np.full(PAGE, 255, np.uint8),
        skew_degrees=0.0,
        metrics=None,
        systems=(System(staves=(STAFF,)),),
    )
    tokens = ["clef:G2", "time:2/4", "pos:4", "dur:quarter", "rest:quarter", "bar"]
    columns = [10.0, 30.0, 120.0, 121.0, 200.0, 260.0]
    fragment, _ = build_fragment(0, layout, [StaffTokens(tokens, [0.9] * 6, columns)], ReadingContext())
    (note,), (rest,) = fragment.notes, fragment.rests
    assert note.HasField("box") and rest.HasField("box")
    assert note.box.x < rest.box.x
    unplaced, _ = build_fragment(0, layout, [StaffTokens(tokens, [0.9] * 6)], ReadingContext())
    assert not unplaced.notes[0].HasField("box")
