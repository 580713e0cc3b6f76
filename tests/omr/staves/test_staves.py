"""Staff and system detection on engraved pages, straight, skewed and noisy."""

from __future__ import annotations

import numpy as np
import pytest

from omr_server.staves.detect import detect_layout
from omr_server.staves.layout import Staff, System
from omr_server.staves.systems import drop_fragments
from recognition.crop import crop_staff
from tests.omr.engraving import engraved_pages, noisy, single_staff_kern, skewed
from tests.omr.pdfs import piano_pages


@pytest.mark.parametrize(
    ("name", "degrees", "add_noise"),
    [
        ("straight", 0.0, False),
        ("skewed", 2.0, False),
        ("skewed back", -1.5, False),
        ("skewed, noisy", 0.8, True),
    ],
)
def test_grand_staff_page(name: str, degrees: float, add_noise: bool) -> None:
    page = piano_pages()[0]
    image = skewed(page.image, degrees) if degrees else page.image
    if add_noise:
        image = noisy(image, seed=3)
    layout = detect_layout(image)
    assert abs(layout.skew_degrees - degrees) < 0.15, name
    assert len(layout.staves) == page.staves, name
    assert len(layout.systems) == page.systems, name
    assert all(len(system.staves) == 2 for system in layout.systems)
    braced = sum(1 for system in layout.systems if system.braced_pairs)
    assert braced >= page.systems - 1  # the top-left brace may be rotated off a skewed page
    metrics = layout.metrics
    assert metrics is not None and 18 <= metrics.interline <= 24
    for staff in layout.staves:
        assert abs(staff.interline - metrics.interline) < 1.5
        assert staff.right_x - staff.left_x > 300
    tops = [staff.top for staff in layout.staves]
    assert tops == sorted(tops)  # reading order


def test_every_page_of_a_multi_page_piece() -> None:
    for page in piano_pages():
        layout = detect_layout(page.image)
        assert (len(layout.staves), len(layout.systems)) == (page.staves, page.systems)


def test_single_staff_systems_are_not_joined() -> None:
    page = engraved_pages(single_staff_kern(40))[0]
    layout = detect_layout(page.image)
    assert len(layout.staves) == page.staves
    assert all(len(system.staves) == 1 for system in layout.systems)


def test_blank_and_text_pages_have_no_staves() -> None:
    from PIL import Image, ImageDraw

    blank = np.full((3508, 2480), 255, np.uint8)
    assert detect_layout(blank).systems == ()
    text = Image.fromarray(blank)
    draw = ImageDraw.Draw(text)
    for row in range(60):
        draw.text((200, 200 + row * 50), "Lorem ipsum dolor sit amet " * 4, fill=0)
    assert detect_layout(np.asarray(text)).systems == ()


def test_staff_crop_puts_lines_where_the_model_expects_them() -> None:
    layout = detect_layout(piano_pages()[0].image)
    staff = layout.staves[0]
    crop = crop_staff(layout.image, staff.top, staff.bottom, staff.left_x, staff.right_x, height=96)
    rows = crop.mean(axis=1)
    for expected in (32, 40, 48, 56, 64):  # each line is a bright row, each space darker
        assert rows[expected - 1 : expected + 2].max() > 0.3
    for space in (36, 44, 52, 60):
        assert rows[space] < 0.2


@pytest.mark.parametrize("dpi", [150, 200])
def test_lower_dpi_renders_keep_every_staff(dpi: int) -> None:
    from omr_server.pages.rasterise import rasterise_page
    from omr_server.pages.validate import PdfLimits, open_pdf
    from tests.omr.pdfs import piano_pdf

    document = open_pdf(piano_pdf(), PdfLimits(10_000_000, 10, 40_000_000))
    for index, page in enumerate(piano_pages()):
        layout = detect_layout(rasterise_page(document, index, dpi))
        assert (len(layout.staves), len(layout.systems)) == (page.staves, page.systems)


def test_a_staff_whose_lines_drift_off_their_rows_still_spans_its_system() -> None:
    # A scan's lines bow a pixel or two: the left third of one staff sits 5 px lower than the
    # rest. Detection keeps that staff's straight stretch only; the staff is then extended to
    # where its partner starts, as far as its lines run.
    page = piano_pages()[0].image.copy()
    before = detect_layout(page).systems[0]
    lower = before.staves[1]
    top, bottom = round(lower.top) - 5, round(lower.bottom) + 6
    left, right = round(lower.left_x), round(lower.left_x + (lower.right_x - lower.left_x) / 3)
    page[top + 5 : bottom + 5, left:right] = page[top:bottom, left:right].copy()
    page[top : top + 5, left:right] = 255
    after = detect_layout(page).systems[0]
    upper_after, lower_after = after.staves
    assert abs(lower_after.left_x - upper_after.left_x) < 3
    assert abs(lower_after.right_x - upper_after.right_x) < 3
    assert abs(lower_after.left_x - lower.left_x) < 3


def test_a_system_bowed_at_its_end_reaches_the_page_width_and_a_short_one_stays_short() -> None:
    page = piano_pages()[0].image.copy()
    before = detect_layout(page).systems
    bowed, short = before[1], before[-1]
    # The right quarter of the second system sits 5 px lower (both staves): detection alone
    # stops both staves where the lines leave their rows.
    top, bottom = round(bowed.staves[0].top) - 5, round(bowed.staves[-1].bottom) + 6
    right = round(bowed.staves[0].right_x) + 2
    left = right - round((bowed.staves[0].right_x - bowed.staves[0].left_x) / 4)
    page[top + 5 : bottom + 5, left:right] = page[top:bottom, left:right].copy()
    page[top : top + 5, left:right] = 255
    # The last system ends early: its right third is blank paper.
    cut = round(short.staves[0].right_x - (short.staves[0].right_x - short.staves[0].left_x) / 3)
    page[round(short.staves[0].top) - 30 : round(short.staves[-1].bottom) + 30, cut:] = 255
    after = detect_layout(page).systems
    for staff, was in zip(after[1].staves, bowed.staves, strict=True):
        assert abs(staff.right_x - was.right_x) < 3
    for staff in after[-1].staves:
        assert staff.right_x < cut


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_dark_page_edge_does_not_join_the_systems(side: str) -> None:
    # A scan cut inside the page, with the binding's shadow or the scanner lid's edge as a dark
    # band where the staff lines run off the image: the band crosses every gap between systems
    # top to bottom, as a system barline would, but it is wide and it lies on the image's edge.
    engraved = piano_pages()[0]
    layout = detect_layout(engraved.image)
    lefts = [round(staff.left_x) for staff in layout.staves]
    rights = [round(staff.right_x) for staff in layout.staves]
    image = engraved.image.copy()
    if side == "right":
        image = image[:, : min(rights) - 60].copy()
        image[:, -30:] = np.random.default_rng(1).integers(0, 90, (image.shape[0], 30))
    else:
        image = image[:, max(lefts) + 60 :].copy()
        image[:, :30] = np.random.default_rng(1).integers(0, 90, (image.shape[0], 30))
    systems = detect_layout(image).systems
    assert len(systems) == engraved.systems
    assert all(len(system.staves) == 2 for system in systems)


def test_an_ossia_staff_is_not_read_as_a_system() -> None:
    # an alternative bar on a short staff of its own between two systems (an ossia): five lines
    # at the page's interline, a fifth of the system's width
    engraved = piano_pages()[0]
    layout = detect_layout(engraved.image)
    upper, lower = layout.systems[0], layout.systems[1]
    space = round(upper.staves[0].interline)
    top = round((upper.staves[-1].bottom + lower.staves[0].top) / 2 - 2 * space)
    left = round(upper.staves[0].left_x + 400)
    image = engraved.image.copy()
    for line in range(5):
        y = top + line * space
        image[y : y + 2, left : left + 12 * space] = 0
    assert len(detect_layout(image).systems) == engraved.systems


def test_short_systems_of_full_staves_stay() -> None:
    def system(width: float, staves: int = 1) -> System:
        staff = Staff(line_ys=(0.0, 20.0, 40.0, 60.0, 80.0), left_x=100.0, right_x=100.0 + width)
        return System(staves=(staff,) * staves)

    melody = [system(2000), system(2000), system(300)]  # a one-staff page's last line of one bar
    assert drop_fragments(melody) == melody
    piano = [system(2000, 2), system(2000, 2), system(300, 2)]  # a grand staff's last, short system
    assert drop_fragments(piano) == piano
    assert drop_fragments([system(2000, 2), system(300), system(2000, 2)]) == [system(2000, 2)] * 2
