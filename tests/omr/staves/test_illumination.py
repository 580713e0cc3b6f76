"""Uneven light (omr_server/staves/illumination.py) on an engraved page built here."""

from __future__ import annotations

import numpy as np

from omr_server.staves.binarize import ink_mask
from omr_server.staves.detect import detect_layout
from omr_server.staves.illumination import even_illumination, stretch_levels
from omr_server.staves.layout import Staff
from recognition.crop import crop_staff
from tests.omr.pdfs import piano_pages


def _page() -> np.ndarray:
    return piano_pages(60)[1].image


def _falling_light(page: np.ndarray, dimmest: float) -> np.ndarray:
    """Light falling from full at the top left corner to `dimmest` at the bottom right one."""
    h, w = page.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 - (1.0 - dimmest) * (rows / h + cols / w) / 2
    return (page * light).astype(np.uint8)


def test_an_evenly_lit_page_is_left_as_it_is() -> None:
    page = _page()
    assert even_illumination(page) is page
    grey = (page * 0.8).astype(np.uint8)  # grey paper, evenly lit: binarisation's job
    assert even_illumination(grey) is grey


def test_paper_dimmed_towards_a_corner_comes_back_white_and_the_ink_stays() -> None:
    page = _page()
    dim = _falling_light(page, 0.45)
    assert ink_mask(dim).mean() > 2 * ink_mask(page).mean()  # the dim corner turns into ink
    evened = even_illumination(dim)
    paper = page == 255
    assert np.percentile(evened[paper], 5) > 230
    agree = ink_mask(evened) == ink_mask(page)
    assert agree.mean() > 0.995


def _crop(image: np.ndarray, staff: Staff) -> np.ndarray:
    return crop_staff(image, staff.top, staff.bottom, staff.left_x, staff.right_x)


def test_a_dimly_lit_page_gives_the_model_the_staves_of_the_flat_one() -> None:
    page = _page()
    flat = detect_layout(page)
    dim = detect_layout(_falling_light(page, 0.45))
    assert len(dim.staves) == len(flat.staves) == 6
    for a, b in zip(dim.staves, flat.staves, strict=True):
        assert abs(a.top - b.top) <= 2 and abs(a.left_x - b.left_x) <= 4 and abs(a.right_x - b.right_x) <= 4
        # The crops (ink = 1): the dim paper would read as ink 0.3-0.5.
        difference = np.abs(_crop(dim.image, a) - _crop(flat.image, b))
        assert difference.mean() < 0.03


def _photocopy(page: np.ndarray) -> np.ndarray:
    """Grey paper and grey ink with some noise, as a copy of a copy prints them."""
    noise = np.random.default_rng(3).normal(0, 10, page.shape)
    return np.clip(45 + page / 255.0 * (205 - 45) + noise, 0, 255).astype(np.uint8)


def test_a_photocopy_is_stretched_to_black_ink_on_white_paper() -> None:
    page = _page()
    copy = _photocopy(page)
    stretched = stretch_levels(copy)
    paper, ink = page == 255, page == 0
    assert np.median(stretched[paper]) == 255 and np.median(copy[paper]) < 210
    assert np.median(copy[ink]) > 40 and np.median(stretched[ink]) < 0.7 * np.median(copy[ink])


def test_pages_with_black_ink_on_white_paper_are_left_as_they_are() -> None:
    page = _page()
    assert stretch_levels(page) is page
    blank = np.full((400, 600), 200, np.uint8)  # no ink to take a level from
    assert stretch_levels(blank) is blank


def test_a_light_print_is_darkened() -> None:
    faint = np.full((400, 600), 255, np.uint8)
    faint[200:203, 100:500] = 150
    assert stretch_levels(faint)[201, 300] < 16


def test_a_photocopied_page_gives_the_model_the_staves_of_the_clean_one() -> None:
    page = _page()
    clean = detect_layout(page)
    copied = detect_layout(_photocopy(page))
    assert len(copied.staves) == len(clean.staves) == 6
    for a, b in zip(copied.staves, clean.staves, strict=True):
        assert abs(a.top - b.top) <= 2 and abs(a.bottom - b.bottom) <= 2
        difference = np.abs(_crop(copied.image, b) - _crop(clean.image, b))
        assert difference.mean() < 0.05
