"""Rendered staves are only labelled with what their crop shows: a staff whose tuplet number
Verovio prints outside the crop window is not used (run v3 learnt to miss triplets from such labels)."""

import random

import pytest

from training.data.build import numbers_visible
from training.data.musicxml import piece_to_musicxml
from training.data.render import StaffGeometry, engrave
from training.data.score import Event, Measure, Piece, Pitch

pytest.importorskip("verovio")


def triplet_piece(step: str, octave: int) -> Piece:
    triplet = [
        Event("eighth", 0, [Pitch(step, octave)], (3, 2), tuplet_start=k == 0, tuplet_stop=k == 2)
        for k in range(3)
    ]
    measure = Measure([[*triplet, Event("quarter", 0, [Pitch(step, octave)])]])
    measure.clef = None
    return Piece([[measure]], [measure_length()])


def measure_length():
    from fractions import Fraction

    return Fraction(2)


def geometry_of(piece: Piece):
    from recognition.symbols import TimeSymbol

    piece.staves[0][0].time = TimeSymbol(2, 4)
    engraving = engrave(piece_to_musicxml(piece, rng=random.Random(1)), random.Random(1), 1, 12.0)
    return engraving.staves[0]


def visible(geometry) -> bool:
    space = (geometry.bottom - geometry.top) / 4
    mid = (geometry.left + geometry.right) / 2
    return numbers_visible(geometry, geometry.top, geometry.bottom, space, 0.0, 0.0, mid, 0.0)


def test_a_triplet_inside_the_staff_is_visible() -> None:
    geometry = geometry_of(triplet_piece("B", 4))
    (number,) = geometry.tuplet_number_ys  # found in the SVG, below the staff (stems down)
    space = (geometry.bottom - geometry.top) / 4
    assert geometry.bottom < number < geometry.bottom + 4 * space
    assert visible(geometry)


def test_numbers_outside_the_crop_window_are_not_visible() -> None:
    # staff lines at rows 100..148 (space 12): the crop shows rows 52..196
    def at(*ys: float) -> StaffGeometry:
        return StaffGeometry(100.0, 148.0, 0.0, 500.0, ys)

    assert visible(at(190.0, 72.0, 52.0))
    assert visible(at(210.0))  # its top is still in the crop
    assert not visible(at(216.0))  # wholly below the crop
    assert not visible(at(50.0))  # baseline above it
