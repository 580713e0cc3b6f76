"""Position labels: the crop column of every notehead (`pos:` token) and rest glyph (`rest:`)."""

import itertools
import random
from fractions import Fraction

import numpy as np
import pytest

from recognition.crop import staff_band
from recognition.symbols import ClefSymbol, TimeSymbol
from training.data.score import Event, Measure, Piece, Pitch, spell_accidentals
from training.data.shards import read_positions, read_shard, write_shard

pytest.importorskip("verovio")


def small_piece() -> Piece:
    """One staff, two measures: a second inside a chord, a triad, a grace note, rests, two voices."""

    def note(step: str, octave: int, kind: str = "quarter", **kw) -> Event:
        return Event(kind, pitches=[Pitch(step, octave)], **kw)

    first = Measure(
        voices=[
            [
                Event("quarter", pitches=[Pitch("C", 5), Pitch("D", 5)]),  # a second: D is displaced
                Event("quarter", pitches=[Pitch("C", 4), Pitch("E", 4), Pitch("G", 4)]),
                note("A", 4, "eighth", grace=True),
                note("G", 4),
                Event("quarter"),  # a rest
            ]
        ],
        clef=ClefSymbol("G", 2),
        key=0,
        time=TimeSymbol(4, 4),
    )
    second = Measure(
        voices=[
            [note("E", 5, "half"), note("F", 5), note("G", 5)],
            [note("C", 4, "half"), Event("half")],
        ],
        end="final",
    )
    piece = Piece([[first, second]], [Fraction(4), Fraction(4)])
    spell_accidentals(piece)
    return piece


def render(piece: Piece, seed: int = 0):
    from training.data.build import render_staves

    return render_staves(piece, random.Random(seed), height=96, strength=0.0)


def events_by_voice(tokens: list[str], positions: np.ndarray) -> list[list[list[float]]]:
    """Per (measure, voice) segment, per event, the columns of its noteheads / rest glyph."""
    segments: list[list[list[float]]] = [[]]
    in_chord = False
    for t, x in zip(tokens, positions, strict=True):
        if t.startswith(("bar", "voice:")):
            segments.append([])
        elif t == "chord":
            in_chord = True
        elif t.startswith("pos:") and in_chord:
            segments[-1][-1].append(float(x))
            in_chord = False
        elif t.startswith(("pos:", "rest:")):
            segments[-1].append([float(x)])
    return [s for s in segments if s]


def test_every_note_and_rest_token_gets_a_position_on_its_glyph():
    piece = small_piece()
    (staff,) = render(piece)
    assert staff.matched
    anchors = [i for i, t in enumerate(staff.tokens) if t.startswith(("pos:", "rest:"))]
    assert len(anchors) == 13
    assert np.isfinite(staff.positions[anchors]).all()
    others = np.setdiff1d(np.arange(len(staff.tokens)), anchors)
    assert np.isnan(staff.positions[others]).all()
    assert (staff.positions[anchors] > 0).all() and (staff.positions[anchors] < staff.crop.shape[1]).all()
    # on a clean page, the labelled column crosses the notehead on the row its pos:P names
    top, bottom = staff_band(96)
    half = (bottom - top) / 8
    for i in anchors:
        if staff.tokens[i].startswith("pos:"):
            row = round(bottom - int(staff.tokens[i][4:]) * half)
            col = round(float(staff.positions[i]))
            # (half noteheads are hollow: their rim is within 3 rows of the centre)
            assert staff.crop[row - 3 : row + 4, col - 1 : col + 2].max() > 200, staff.tokens[i]


def test_positions_increase_within_a_voice_and_chords_share_a_column_but_seconds():
    (staff,) = render(small_piece(), seed=3)
    segments = events_by_voice(staff.tokens, staff.positions)
    assert len(segments) == 3  # measure 1; measure 2 voice 1 and voice 2
    for events in segments:
        starts = [min(e) for e in events]
        assert all(a < b for a, b in itertools.pairwise(starts)), starts
    space = (staff_band(96)[1] - staff_band(96)[0]) / 4
    second, triad = segments[0][0], segments[0][1]
    assert abs(second[0] - second[1]) > 0.8 * space  # C5-D5: the noteheads stand side by side
    assert max(triad) - min(triad) < 0.3  # C-E-G: one column


def test_random_pieces_are_matched():
    from training.data.synthetic import random_piece

    for seed in range(3):
        piece = random_piece(random.Random(seed))
        for staff in render(piece, seed):
            assert staff.matched
            anchors = [t.startswith(("pos:", "rest:")) for t in staff.tokens]
            assert np.isfinite(staff.positions[anchors]).all()


@pytest.mark.parametrize("degrees", [0.4, -0.3])
def test_rotated_point_lands_where_pil_puts_it(degrees):
    from training.data.augment import rotate
    from training.data.build import _rotated, _rotated_x

    page = np.full((600, 900), 255, np.uint8)
    page[99:102, 799:802] = 0  # a dot centred on pixel (100, 800), continuous centre (100.5, 800.5)
    turned = 255.0 - rotate(page, degrees).astype(np.float64)
    rows, cols = np.indices(turned.shape)
    row = (turned * rows).sum() / turned.sum() + 0.5  # continuous coordinates
    col = (turned * cols).sum() / turned.sum() + 0.5
    cy, cx = page.shape[0] / 2, page.shape[1] / 2
    assert _rotated_x(100.5, 800.5, cx, cy, degrees) == pytest.approx(col, abs=0.1)
    assert _rotated(100.5, 800.5, cx, cy, degrees) == pytest.approx(row, abs=0.1)


def test_shards_keep_positions_and_old_shards_read_without_them(tmp_path):
    crops = [np.zeros((96, 40), np.uint8), np.ones((96, 30), np.uint8)]
    tokens = [["clef:G2", "pos:4", "dur:quarter", "bar"], ["rest:half", "bar"]]
    positions = [np.array([np.nan, 12.5, np.nan, np.nan]), np.array([7.25, np.nan])]
    samples = [(c, t, "synthetic") for c, t in zip(crops, tokens, strict=True)]
    write_shard(tmp_path / "shard-0.npz", samples, positions=positions)
    write_shard(tmp_path / "shard-1.npz", samples)
    images, read_tokens, kinds = read_shard(tmp_path / "shard-0.npz")
    assert read_tokens == tokens and kinds == ["synthetic"] * 2 and images[1].shape == (96, 30)
    got = read_positions(tmp_path / "shard-0.npz")
    assert got is not None
    for a, b in zip(got, positions, strict=True):
        np.testing.assert_array_equal(a, b.astype(np.float32))
    assert read_positions(tmp_path / "shard-1.npz") is None
    assert read_shard(tmp_path / "shard-1.npz")[1] == tokens
    with pytest.raises(ValueError, match="one float per token"):
        write_shard(tmp_path / "shard-2.npz", samples, positions=[positions[0], positions[0]])


def test_a_staff_whose_svg_does_not_match_gets_no_positions():
    from dataclasses import replace

    from recognition.vocabulary import symbols_to_tokens
    from training.data.build import match_glyphs, token_positions
    from training.data.render import EventGlyphs, StaffGeometry
    from training.data.score import staff_symbols

    piece = small_piece()
    tokens = symbols_to_tokens(staff_symbols(piece, 0))
    geometry = StaffGeometry(100.0, 148.0, 0.0, 500.0)  # no glyphs read
    assert match_glyphs(piece, 0, geometry) is None
    assert token_positions(tokens, None, geometry) is None

    # the right counts, but a notehead on the wrong height: refused, not labelled
    per_measure = [[e for v in m.voices for e in v] for m in piece.staves[0]]
    measures = tuple(
        tuple(
            EventGlyphs(e.is_rest, tuple((10.0 * k, 124.0) for k in range(max(len(e.pitches), 1))))
            for e in events
        )
        for events in per_measure
    )
    centres = match_glyphs(piece, 0, replace(geometry, measures=measures))
    assert centres is not None and len(centres) == 13
    assert token_positions(tokens, centres, geometry) is None
